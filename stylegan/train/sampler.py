"""The order in which training sees the data: an endless stream of dataset indices, a fresh permutation per epoch
(seeded by the run's seed and the epoch), cut into global batches of which each process takes its slice. Starting
at any batch number gives the same stream, so a resumed run sees what the uninterrupted run would have."""

from typing import Iterator, List

import numpy as np
import torch


class GlobalBatchSampler(torch.utils.data.Sampler):
    def __init__(self, dataset_size: int, batch: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 start_batch: int = 0):
        if dataset_size < 1:
            raise ValueError(f"sampler: the dataset is empty (dataset_size={dataset_size})")
        if batch % world_size:
            raise ValueError(f"sampler: batch {batch} is not a multiple of world_size {world_size}")
        self.size, self.batch, self.rank, self.world_size = dataset_size, batch, rank, world_size
        self.seed, self.start_batch = seed, start_batch

    def _epoch(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def __iter__(self) -> Iterator[List[int]]:
        per_rank = self.batch // self.world_size
        epoch, offset = divmod(self.start_batch * self.batch, self.size)
        order = self._epoch(epoch)
        while True:
            chunk = []
            while len(chunk) < self.batch:
                take = order[offset:offset + self.batch - len(chunk)]
                chunk.extend(take.tolist())
                offset += len(take)
                if offset == self.size:
                    epoch, offset = epoch + 1, 0
                    order = self._epoch(epoch)
            yield chunk[self.rank * per_rank:(self.rank + 1) * per_rank]
