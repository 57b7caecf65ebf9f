"""The default run (`python -m stylegan.train`, no arguments) learns: its final G_ema's samples are much closer to
the built-in data, in sliced Wasserstein distance, than the same network's samples at initialization. Slow (the whole
default run, about a quarter of an hour on a 2-core CPU): python -m pytest -m slow tests/test_training_quality.py"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from stylegan import load_network
from stylegan.data import open_dataset
from stylegan.metrics import sliced_wasserstein_distance
from stylegan.train import TrainingOptions, build_networks
from stylegan.train.snapshot import list_snapshots

N = 1000


def samples(G, n=N, seed=123):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.cat([G(torch.randn(100, G.z_dim, generator=g), None, noise_mode="const").clamp(-1, 1)
                          for _ in range(n // 100)])


@pytest.mark.slow
def test_default_run_improves_its_samples(tmp_path):
    subprocess.run([sys.executable, "-m", "stylegan.train"], cwd=tmp_path, check=True, timeout=1800)
    run_dir, = (tmp_path / "runs").iterdir()
    config = json.loads((run_dir / "training_options.json").read_text())
    options = TrainingOptions(**config["options"])
    dataset = open_dataset(None)
    reals = torch.from_numpy(np.stack([dataset[i][0] for i in range(N)]))

    torch.manual_seed(options.seed)  # the run's initial networks (launch seeds the same way before building them)
    G_init, _ = build_networks(options, dataset)
    G_final = load_network(list_snapshots(run_dir)[-1])
    before = sliced_wasserstein_distance(samples(G_init.eval()), reals)["swd_mean"]
    after = sliced_wasserstein_distance(samples(G_final), reals)["swd_mean"]
    print(f"SWD x1e3 to the data: initialization {before:.1f}, after the default run {after:.1f}")
    assert after < 0.5 * before
