"""One training step of `python -m stylegan.train`'s default run (the built-in dataset, its auto configuration) on
the fused ops against the same step on the reference ops: a step of the two main phases (G and D adversarial losses,
forward and backward), and a step on which both lazy regularizers also run (path length and R1, second-order
gradients through both networks). With G regularized every 4 steps and D every 16, a training run's mean step lies
between the two. 'compiled' is the reference step with G's mapping and synthesis and D under torch.compile (main
phases only: torch.compile cannot differentiate twice, which R1 and the path length need)."""

import copy

import pytest
import torch

from conftest import synchronize
from stylegan.data import open_dataset
from stylegan.train import TrainingOptions, build_networks, resolve_options
from stylegan.train.distributed import ProcessGroup
from stylegan.train.loop import TrainingLoop

IMPLS = ["fused", "ref", "compiled"]


def training_loop(device: str, impl: str) -> TrainingLoop:
    dataset = open_dataset(None)
    o = resolve_options(TrainingOptions(impl="ref" if impl == "compiled" else impl), dataset.resolution, builtin=True,
                        world_size=1, cuda=device == "cuda")
    torch.manual_seed(0)
    G, D = build_networks(o, dataset)
    G, D = G.to(device), D.to(device)
    if impl == "compiled":
        # Static shapes: with dynamic ones, the compiled backward asserted a wrong stride for a channels_last
        # convolution's saved output (torch 2.13, CPU).
        for module in (G.mapping, G.synthesis, D):
            module.compile(dynamic=False)
    return TrainingLoop(o, dataset, G, D, copy.deepcopy(G), ProcessGroup(), torch.device(device), None,
                        lambda line: None, None)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("regularized", [False, True], ids=["main phases", "with both regularizers"])
def test_training_step(measure, device, impl, regularized):
    if impl == "compiled" and regularized:
        pytest.skip("torch.compile cannot differentiate twice (R1, path length)")
    loop = training_loop(device, impl)
    batch = [torch.stack([torch.from_numpy(loop.dataset[i][0]) for i in range(loop.o.batch)]),
             torch.zeros([loop.o.batch, 0])]

    def run():
        loop.batch_idx = 0 if regularized else 1  # step 0 runs every phase; step 1 only the main ones
        loop.step(*batch)
        synchronize(device)

    if impl == "compiled":
        run()  # the compilation, before the timing
    name = "with R1 + path length" if regularized else "main phases"
    measure(run, group=f"training step ({name}) shapes32 batch {loop.o.batch} {device}", impl=impl, device=device)
