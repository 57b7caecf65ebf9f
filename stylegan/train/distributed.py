"""Data-parallel training across processes (torchrun): process group set-up from the environment torchrun provides,
gradient averaging, and replica checks. NCCL on CUDA, gloo on the CPU.

Gradients are averaged by one all-reduce of the flattened gradients after each phase, rather than by wrapping the
networks in DistributedDataParallel: the regularization phases differentiate twice (R1, path length) and the
phases use different subsets of the parameters, which DDP's bucketed hooks do not follow."""

import os
from dataclasses import dataclass
from typing import Iterable, List

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class ProcessGroup:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_environment(device_type: str) -> ProcessGroup:
    """Joins the process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT); a single
    process when WORLD_SIZE is absent or 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return ProcessGroup()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch has no torch.distributed")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return ProcessGroup(rank, world_size, local_rank)


def shutdown(group: ProcessGroup, finished: bool) -> None:
    """Leaves the process group. After a finished run every rank first waits for the others (a rank tearing down
    gloo while a peer still uses its connections aborted the process now and then); after an error it does not wait,
    since a peer may never arrive."""
    if group.world_size > 1 and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, group: ProcessGroup) -> None:
    """Copies rank 0's parameters and buffers to every rank."""
    if group.world_size == 1:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def broadcast_flag(value: bool, group: ProcessGroup, device: torch.device) -> bool:
    """Rank 0's value of a flag, on every rank (a synchronization point)."""
    if group.world_size == 1:
        return value
    flag = torch.tensor([float(value)], device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def average_gradients(params: Iterable[torch.nn.Parameter], group: ProcessGroup) -> None:
    """Replaces each parameter's gradient by its mean over the ranks (parameters without one are left alone; all
    ranks run the same phase at the same resolution, so they agree on which those are)."""
    if group.world_size == 1:
        return
    grads: List[torch.Tensor] = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= group.world_size
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def average_in_place(tensor: torch.Tensor, group: ProcessGroup) -> None:
    """Replaces `tensor` by its mean over the ranks (a running statistic each rank updated from its own data)."""
    if group.world_size > 1:
        dist.all_reduce(tensor.data)
        tensor.data /= group.world_size


def average_scalars(values: torch.Tensor, group: ProcessGroup) -> torch.Tensor:
    """The element-wise mean of a 1-D tensor over the ranks."""
    if group.world_size == 1:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / group.world_size


def check_replicas(module: torch.nn.Module, name: str, group: ProcessGroup) -> None:
    """Raises if any rank's parameters or buffers differ from rank 0's (bit for bit; NaN equal to NaN)."""
    if group.world_size == 1:
        return
    for key, t in list(module.named_parameters()) + list(module.named_buffers()):
        other = t.detach().clone()
        dist.broadcast(other, src=0)
        if not torch.equal(torch.nan_to_num(other, nan=0.0), torch.nan_to_num(t.detach(), nan=0.0)):
            raise RuntimeError(f"replica check: {name}.{key} on rank {group.rank} differs from rank 0")
