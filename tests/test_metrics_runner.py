"""Metrics by name (stylegan.metrics.runner) with a small random feature extractor, their jsonl records, and the
dataset statistics cache (stylegan.metrics.stats_cache): hits, misses, stale and corrupt files."""

import json

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from PIL import Image

from stylegan.data import open_dataset
from stylegan.metrics import RandomFeatures, append_jsonl, compute_metric, compute_metrics, dataset_feature_stats
from stylegan.metrics import stats_cache
from stylegan.metrics.features import TF32_SWITCHES, tf32_settings
from stylegan.metrics.inception import InceptionV3

RES = 16


class CountingFeatures(RandomFeatures):
    """RandomFeatures counting the images it sees."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.images = 0

    def forward(self, images):
        self.images += images.shape[0]
        return super().forward(images)


class ReplayGenerator(torch.nn.Module):
    """'Generates' the dataset's images in order (as [-1, 1] floats), starting again after the last one."""

    z_dim, c_dim, img_resolution, img_channels = 4, 0, RES, 3
    mapping = synthesis = None

    def __init__(self, dataset):
        super().__init__()
        self.images = torch.stack([torch.from_numpy(dataset[i][0]) for i in range(len(dataset))]).float() / 127.5 - 1
        self.next = 0

    def forward(self, z, c=None, noise_mode="random", truncation_psi=1):
        index = (torch.arange(z.shape[0]) + self.next) % len(self.images)
        self.next = (self.next + z.shape[0]) % len(self.images)
        return self.images[index]


@pytest.fixture(scope="module")
def shapes():
    return open_dataset(None, resolution=RES, max_size=24)


def write_pngs(folder, n, size=RES, mode="RGB", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size, size, 3) if mode == "RGB" else (size, size)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{i:03d}.png")
    return folder


def test_all_feature_metrics_and_swd_at_once(shapes, tmp_path):
    G = tiny_generator().train()
    w_avg = G.mapping.w_avg.clone()
    features = CountingFeatures()
    results = compute_metrics(G, shapes, ["fid", "kid", "pr", "swd"], num_gen=24, feature_extractor=features,
                              batch=10, cache_dir=tmp_path)
    assert set(results) == {"fid24_full_random", "kid24_full_random", "pr24_k3_full_random_precision",
                            "pr24_k3_full_random_recall", "swd24", "swd24_16"}
    assert all(np.isfinite(v) for v in results.values())
    assert results["fid24_full_random"] > 0 and results["swd24"] == results["swd24_16"] > 0
    assert 0 <= results["pr24_k3_full_random_precision"] <= 1
    assert features.images == 24 + 24        # generated and real features extracted once for the three metrics
    assert G.training and torch.equal(G.mapping.w_avg, w_avg)     # evaluation mode only while measuring


def allow_tf32(monkeypatch):
    """Lets CUDA use TF32 (every switch on) until the test ends."""
    for owner, name, full in TF32_SWITCHES:
        monkeypatch.setattr(owner, name, "tf32" if isinstance(full, str) else True)


def test_generator_and_features_run_without_tf32(shapes, monkeypatch):
    """As NVIDIA's metrics: no TF32 in the generator or the feature network; the settings are restored after."""
    allow_tf32(monkeypatch)
    before, seen = tf32_settings(), []
    G, features = tiny_generator(), RandomFeatures()
    for module in (G, features):
        module.register_forward_pre_hook(lambda *_: seen.append(tf32_settings()))
    results = compute_metrics(G, shapes, ["fid", "swd"], num_gen=8, feature_extractor=features, batch=8,
                              use_cache=False)
    # G: 8 images for each metric; features: 8 generated and 24 real images.
    assert len(results) == 3 and seen == [[full for *_, full in TF32_SWITCHES]] * (2 + 4)
    assert tf32_settings() == before != seen[0]


def test_replaying_the_data_gives_a_perfect_score(shapes, tmp_path):
    G = ReplayGenerator(shapes)
    results = compute_metrics(G, shapes, ["fid24_full", "pr24_k3_full", "swd24"], feature_extractor=RandomFeatures(),
                              batch=7, use_cache=False)
    assert results["fid24_full_random"] == pytest.approx(0, abs=1e-6)
    assert results["pr24_k3_full_random_precision"] == results["pr24_k3_full_random_recall"] == 1
    assert results["swd24"] == 0


def test_results_are_reproducible_for_a_seed(shapes):
    G = tiny_generator()
    kwargs = dict(num_gen=12, feature_extractor=RandomFeatures(), use_cache=False, noise_mode="const")
    first = compute_metrics(G, shapes, ["fid"], **kwargs)
    assert compute_metrics(G, shapes, ["fid"], **kwargs) == first
    assert compute_metrics(G, shapes, ["fid"], seed=1, **kwargs) != first


def test_conditional_generator_and_mirrored_data(tmp_path):
    G = tiny_generator(c_dim=5)
    data = open_dataset(None, resolution=RES, max_size=8, use_labels=True, mirror=True)
    result = compute_metric(G, data, "fid12", feature_extractor=RandomFeatures(), cache_dir=tmp_path)
    assert result.num_real == 12 and result.name == "fid12_random"     # the first 12 of the 16 items (x-flips)
    assert compute_metric(G, data, "fid12_full", feature_extractor=RandomFeatures(), cache_dir=tmp_path).num_real == 8


def test_records_in_run_dir(shapes, tmp_path):
    snapshot = tmp_path / "snapshot-000000064"
    compute_metrics(tiny_generator(), shapes, ["kid10k"], num_gen=8, feature_extractor=RandomFeatures(),
                    cache_dir=tmp_path / "cache", run_dir=tmp_path, snapshot=snapshot)
    lines = (tmp_path / "metric-kid8_random.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    assert len(lines) == 1 and list(record["results"]) == ["kid8_random"]
    assert record["metric"] == "kid8_random" and record["snapshot"] == "snapshot-000000064"
    assert (record["num_gen"], record["num_real"], record["features"]) == (8, 8, "random")
    assert record["timestamp"] > 1.6e9 and record["total_time"] >= 0


def test_append_jsonl_to_a_file_or_folder(tmp_path):
    append_jsonl(tmp_path / "log.jsonl", "fid50k_full", {"fid50k_full": 3.5}, snapshot="/elsewhere/G.pkl")
    record = append_jsonl(tmp_path / "log.jsonl", "fid50k_full", {"fid50k_full": 3.25})
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["results"]["fid50k_full"] for r in lines] == [3.5, 3.25] and lines[1] == record
    assert lines[0]["snapshot"] == "/elsewhere/G.pkl" and lines[1]["snapshot"] is None
    append_jsonl(tmp_path / "new" / "run", "swd16k", {"swd16k": 1.0})
    assert (tmp_path / "new" / "run" / "metric-swd16k.jsonl").is_file()


def test_default_extractor_is_the_inception(shapes, tmp_path, monkeypatch):
    path = tmp_path / "weights.pth"
    torch.save(InceptionV3().state_dict(), path)
    data = open_dataset(None, resolution=RES, max_size=2)
    with pytest.warns(UserWarning, match="SHA-256"):
        result = compute_metric(tiny_generator(), data, "fid2_full", inception=path, cache_dir=tmp_path)
    assert result.name == "fid2_full" and result.features == "inception"
    monkeypatch.delenv("STYLEGAN_INCEPTION", raising=False)
    with pytest.raises(FileNotFoundError, match="--inception: Inception weights not found"):
        compute_metric(tiny_generator(), data, "fid2_full", inception=tmp_path / "missing.pth")


def test_bad_arguments_raise(shapes):
    G, features = tiny_generator(), RandomFeatures()
    with pytest.raises(ValueError, match="unknown metric 'fid_full'; known: fid50k_full"):
        compute_metrics(G, shapes, ["fid_full"], feature_extractor=features)
    with pytest.raises(ValueError, match="dataset: the generator has img_resolution=16 but the dataset needs 32"):
        compute_metrics(G, open_dataset(None, resolution=32, max_size=4), ["fid"], feature_extractor=features)
    with pytest.raises(ValueError, match=r"dataset: the generator has c_dim=5 but the dataset needs 0 \(open it with "
                                         r"use_labels=True\)"):
        compute_metrics(tiny_generator(c_dim=5), shapes, ["fid"], feature_extractor=features)
    with pytest.raises(ValueError, match="dataset: needed"):
        compute_metrics(G, None, ["fid"], feature_extractor=features)
    with pytest.raises(ValueError, match="swd needs images of at least 16x16"):
        compute_metrics(tiny_generator(resolution=8), open_dataset(None, resolution=8, max_size=4), ["swd"])
    with pytest.raises(TypeError, match=r"feature_extractor: Identity is no feature extractor \(lacks attributes"):
        compute_metrics(G, shapes, ["fid"], num_gen=4, feature_extractor=torch.nn.Identity())
    with pytest.raises(TypeError, match="G: a generator needs the attribute 'z_dim'"):
        compute_metrics(torch.nn.Linear(2, 2), shapes, ["fid"])
    with pytest.raises(ValueError, match="needs at least 4 generated images"):
        compute_metrics(G, shapes, ["pr"], num_gen=3)
    with pytest.raises(ValueError, match="batch must be a positive int"):
        compute_metrics(G, shapes, ["fid"], batch=0)


# ----------------------------------------------------------------------------------------------------------------
# The dataset statistics cache.

def test_cache_hit_miss_and_features_on_demand(shapes, tmp_path):
    features = CountingFeatures()
    kwargs = dict(cache_dir=tmp_path, batch=10)
    first = dataset_feature_stats(shapes, features, 20, **kwargs)
    assert features.images == 20 and len(list(tmp_path.glob("shapes16-random-*.npz"))) == 1
    again = dataset_feature_stats(shapes, features, 20, **kwargs)          # hit
    assert features.images == 20
    for a, b in zip(first.mean_cov(), again.mean_cov()):
        np.testing.assert_array_equal(a, b)
    with_features = dataset_feature_stats(shapes, features, 20, capture_all=True, **kwargs)   # no features stored
    assert features.images == 40 and with_features.features().shape == (20, 64)
    dataset_feature_stats(shapes, features, 20, capture_all=True, **kwargs)    # hit, features included
    dataset_feature_stats(shapes, features, 20, **kwargs)                      # hit, features not needed
    assert features.images == 40
    dataset_feature_stats(shapes, features, 10, **kwargs)                      # other items: another file
    assert features.images == 50 and len(list(tmp_path.glob("*.npz"))) == 2
    dataset_feature_stats(shapes, CountingFeatures(seed=1), 10, **kwargs)      # other weights: another file
    assert len(list(tmp_path.glob("*.npz"))) == 3 and not list(tmp_path.glob("*.tmp"))


def test_cache_stale_when_the_files_change(tmp_path):
    folder = write_pngs(tmp_path / "images", 6)
    features = CountingFeatures()
    data = open_dataset(folder)
    before = dataset_feature_stats(data, features, 6, cache_dir=tmp_path / "cache").mean_cov()[0]
    write_pngs(folder, 1, seed=5)                       # 000.png rewritten with other pixels
    data = open_dataset(folder)
    after = dataset_feature_stats(data, features, 6, cache_dir=tmp_path / "cache").mean_cov()[0]
    assert features.images == 12 and not np.allclose(before, after)
    np.testing.assert_allclose(after, dataset_feature_stats(data, features, 6, use_cache=False).mean_cov()[0])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1       # replaced, not added


def test_cache_corrupt_file_is_recomputed(shapes, tmp_path):
    features = CountingFeatures()
    dataset_feature_stats(shapes, features, 8, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    for garbage in (b"not an npz file", path.read_bytes()[:100]):
        path.write_bytes(garbage)
        with pytest.warns(UserWarning, match="unreadable"):
            dataset_feature_stats(shapes, features, 8, cache_dir=tmp_path)
    dataset_feature_stats(shapes, features, 8, cache_dir=tmp_path)         # repaired: a hit
    assert features.images == 24


def test_cache_keys_and_what_is_not_cached(shapes, tmp_path):
    features = CountingFeatures()
    mirrored = open_dataset(None, resolution=RES, max_size=24, mirror=True)
    selection = lambda data, n: stats_cache.dataset_fingerprint(data, n)[0]  # noqa: E731
    # The unflipped half of a mirrored dataset is the same data; flips make it other data.
    assert stats_cache.cache_path(tmp_path, shapes, features, selection(shapes, 24)) == \
        stats_cache.cache_path(tmp_path, mirrored, features, selection(mirrored, 24))
    assert selection(mirrored, 25)["flips"]
    features.cache_key = None
    dataset_feature_stats(shapes, features, 4, cache_dir=tmp_path)
    dataset_feature_stats(shapes, RandomFeatures(), 4, cache_dir=tmp_path, use_cache=False)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"num_items must be an int in \[1, 24\]"):
        dataset_feature_stats(shapes, features, 25)


def test_generation_is_reproducible_and_leaves_the_global_random_state_alone():
    G = tiny_generator()
    dataset = open_dataset(None, resolution=16, max_size=16)
    state = torch.get_rng_state()
    first = compute_metrics(G, dataset, ["swd16"], feature_extractor=None)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(1234)  # another global state: the same images all the same (random noise included)
    assert compute_metrics(G, dataset, ["swd16"]) == first
