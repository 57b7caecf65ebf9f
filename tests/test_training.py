"""Training: tiny end-to-end runs on the CPU, exact resume, snapshots that survive being killed, the losses'
regularizers against closed forms, the non-finite guard, progressive growing, and bad options."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stylegan import load_network
from stylegan.data import ShapesDataset, export_zip
from stylegan.networks import Discriminator, Generator
from stylegan.networks.w_inputs import StyleLayer, WInput
from stylegan.train import run
from stylegan.train.growth import Growth, GrowthSchedule, resize_reals
from stylegan.train.launch import build_networks
from stylegan.train.loop import make_phases
from stylegan.train.loss import PHASES, Phase, StyleGANLoss
from stylegan.train.options import TrainingOptions, build_parser, resolve_options
from stylegan.train.report import ProgressLine
from stylegan.train.snapshot import list_snapshots, read_for_resume, read_snapshot, write_snapshot

# A network small enough for a step to take a few tens of milliseconds: 16x16 images, 32 channels.
TINY = dict(resolution=16, cbase=256, cmax=32, z_dim=16, map=2, batch=4, workers=0, metrics="")


def tiny_run(tmp_path, **options) -> Path:
    given = {**TINY, "outdir": str(tmp_path / "runs"), "kimg": 0.024, "tick": 0.008, "snap": 1, **options}
    return run(given)


def stats_lines(run_dir: Path):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def test_tiny_run_writes_everything(tmp_path):
    run_dir = tiny_run(tmp_path)
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("00000-shapes16-stylegan2")
    config = json.loads((run_dir / "training_options.json").read_text())
    assert config["options"]["batch"] == 4 and config["options"]["gamma"] == pytest.approx(0.0002 * 16 ** 2 / 4)
    assert config["networks"]["G"]["img_resolution"] == 16
    stats = stats_lines(run_dir)
    assert [s["Progress/tick"] for s in stats] == [1, 2, 3]
    for s in stats:
        for key in ("Loss/G/loss", "Loss/D/loss", "Loss/scores/real", "Loss/scores/fake"):
            assert np.isfinite(s[key]), (key, s)
    assert "Loss/r1_penalty" in stats[0] and "Loss/pl_penalty" in stats[0]  # step 0 runs both regularizers
    assert [p.name for p in list_snapshots(run_dir)] == [f"snapshot-{n:09d}" for n in (8, 16, 24)]
    for name in ("reals.png", "fakes000000000.png", "fakes000000024.png", "log.txt"):
        assert (run_dir / name).is_file(), name
    from PIL import Image
    grid = Image.open(run_dir / "fakes000000024.png")
    assert grid.size == (12 * 64, 8 * 64)  # 12 x 8 images of 16 px, shown at 64 px
    assert list(run_dir.glob("events.out.tfevents.*"))
    G = load_network(list_snapshots(run_dir)[-1])  # a snapshot directory loads as a network (G_ema)
    assert G(torch.randn(2, 16)).shape == (2, 3, 16, 16)
    assert "done:" in (run_dir / "log.txt").read_text()


def test_metrics_at_every_snapshot(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGAN_VGG16", "")
    monkeypatch.setattr("stylegan.perceptual.default_weights_path", lambda: tmp_path / "no-vgg16.pth")
    with pytest.warns(UserWarning, match="no VGG16 weights"):
        run_dir = tiny_run(tmp_path, kimg=0.016, snap=1, metrics="swd64,ppl2_wend_8")
    for name in ("swd64", "ppl2_pixel_wend_8"):
        records = [json.loads(line) for line in (run_dir / f"metric-{name}.jsonl").read_text().splitlines()]
        assert [r["snapshot"] for r in records] == ["snapshot-000000008", "snapshot-000000016"]
        assert all(np.isfinite(r["results"][name]) for r in records)
    assert sum("Metrics/swd64" in s for s in stats_lines(run_dir)) == 2
    with pytest.raises(ValueError, match="--metrics: unknown metric 'fidd'"):
        tiny_run(tmp_path, metrics="swd,fidd")
    with pytest.raises(FileNotFoundError, match="Inception weights not found at .*nothing.pth"):
        tiny_run(tmp_path, metrics="kid", inception=str(tmp_path / "nothing.pth"))


def _final_state(run_dir: Path):
    networks, state = read_snapshot(list_snapshots(run_dir)[-1])
    tensors = {f"{k}.{n}": t for k, net in networks.items() for n, t in net.state_dict().items()}
    return tensors, state


@pytest.mark.parametrize("extra", [{}, {"arch": "stylegan", "pg_start": 8, "pg_kimg": 0.008},
                                   {"aug": "ada", "p": 0.3, "ada_kimg": 0.05, "ada_interval": 1, "tick": 0.004,
                                    "snap": 2, "metrics": "swd64"},
                                   {"arch": "stylegan3-r", "cbase": 64, "cmax": 8, "blur_kimg": 0.024,
                                    "impl": "ref"}],
                         ids=["stylegan2", "stylegan-growing", "ada-and-metrics", "stylegan3-r-blur"])
def test_resume_continues_exactly(tmp_path, extra):
    straight = tiny_run(tmp_path / "a", kimg=0.032, **extra)
    middle = list_snapshots(straight)[1]  # after 16 images
    resumed = run({"resume": str(middle), "outdir": str(tmp_path / "b"), "kimg": 0.032})
    assert [p.name for p in list_snapshots(resumed)] == [f"snapshot-{n:09d}" for n in (24, 32)]
    expected, state_a = _final_state(straight)
    actual, state_b = _final_state(resumed)
    assert state_a["nimg"] == state_b["nimg"] == 32 and state_a["batch_idx"] == state_b["batch_idx"] == 8
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(state_b["pl_mean"], state_a["pl_mean"])
    assert state_b["ada"] == state_a["ada"]
    if "aug" in extra:  # r_t of 4 signs is never the target 0.6: p moves by 4 / 50 at every step (a tick)
        ps = [0.3] + [s["Progress/augment"] for s in stats_lines(straight) if "Progress/tick" in s]
        assert all(abs(b - a) == pytest.approx(0.08) or b == 0 for a, b in zip(ps, ps[1:])), ps
        assert ps[-1] == pytest.approx(state_a["ada"]["p"])
    # The run before the snapshot really changed the weights: the comparison is not between untouched networks.
    before = read_snapshot(list_snapshots(straight)[0])[0]["G"].state_dict()
    after = read_snapshot(middle)[0]["G"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_resume_from_a_run_directory_takes_its_newest_snapshot_and_options(tmp_path):
    first = tiny_run(tmp_path, kimg=0.016, seed=3, style_mixing=0.5)
    assert read_for_resume(first)[0] == list_snapshots(first)[-1]
    resumed = run({"resume": str(first), "outdir": str(tmp_path / "runs"), "kimg": 0.024})
    config = json.loads((resumed / "training_options.json").read_text())["options"]
    assert config["seed"] == 3 and config["style_mixing"] == 0.5 and config["kimg"] == 0.024
    assert [p.name for p in list_snapshots(resumed)] == ["snapshot-000000024"]
    with pytest.raises(ValueError, match="--cbase cannot change"):
        run({"resume": str(first), "cbase": 512})


def test_resume_from_an_nvidia_pickle_fine_tunes_it(tmp_path, stand_ins):
    from nvidia_format import nvidia_kwargs, record_of, write_pickle
    from stylegan.train import build_networks

    dataset = ShapesDataset(resolution=16, size=64)
    o = resolve_options(TrainingOptions(**TINY), 16, True, 1, False)
    G, D = build_networks(o, dataset)
    path = tmp_path / "network-snapshot.pkl"
    write_pickle(path, {"G": record_of(G, "Generator", nvidia_kwargs(G)),
                        "D": record_of(D, "Discriminator", nvidia_kwargs(D)),
                        "G_ema": record_of(G, "Generator", nvidia_kwargs(G))})
    run_dir = run({"resume": str(path), "outdir": str(tmp_path / "runs"), "resolution": 16, "batch": 4,
                   "kimg": 0.008, "tick": 0.008, "workers": 0, "metrics": ""})
    networks, state = read_snapshot(list_snapshots(run_dir)[-1])
    assert state["nimg"] == 8
    assert json.loads((run_dir / "training_options.json").read_text())["options"]["ada_kimg"] == 100
    moved = (networks["G"].synthesis.b16.conv1.weight - G.synthesis.b16.conv1.weight).abs().max()
    assert 0 < moved < 1  # trained from the pickle's weights, not from a fresh initialisation
    with pytest.raises(ValueError, match="img_resolution=16 but the dataset needs 32"):
        run({"resume": str(path), "outdir": str(tmp_path / "runs"), "resolution": 32, "batch": 4})


def test_conditional_training_from_a_dataset_tool_zip(tmp_path):
    zip_path = tmp_path / "shapes.zip"
    export_zip(ShapesDataset(resolution=16, size=24, use_labels=True), zip_path)
    run_dir = tiny_run(tmp_path, data=str(zip_path), cond=True, mirror=True, kimg=0.008)
    config = json.loads((run_dir / "training_options.json").read_text())
    assert config["dataset"]["label_dim"] == 5 and config["dataset"]["size"] == 48
    G = load_network(list_snapshots(run_dir)[-1])
    assert G.c_dim == 5 and G(torch.randn(2, 16), torch.eye(5)[:2]).shape == (2, 3, 16, 16)


def test_progressive_growing_run_fades_resolutions_in(tmp_path):
    run_dir = tiny_run(tmp_path, arch="stylegan", pg_start=4, pg_kimg=0.008, kimg=0.048)
    stats = stats_lines(run_dir)
    schedule = [(s["Progress/resolution"], round(s["Progress/alpha"], 3)) for s in stats]
    # Each tick reports the (resolution, alpha) of its last step: 4 images before its end.
    assert schedule == [(4, 1.0), (8, 0.5), (8, 1.0), (16, 0.5), (16, 1.0), (16, 1.0)]
    assert (run_dir / "fakes000000016.png").is_file()


def test_growth_schedule():
    s = GrowthSchedule(8, 32, phase_kimg=1)
    assert [s.at(n) for n in (0, 999, 1000, 1500, 2000, 2999, 3000, 3250, 4000, 5000, 10 ** 7)] == [
        (8, 1.0), (8, 1.0), (16, 0.0), (16, 0.5), (16, 1.0), (16, 1.0), (32, 0.0), (32, 0.25), (32, 1.0),
        (32, 1.0), (32, 1.0)]
    assert s.total_kimg == 5
    assert GrowthSchedule(32, 32, 1).at(0) == (32, 1.0)
    for bad in (dict(start_resolution=6), dict(start_resolution=64), dict(phase_kimg=0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            GrowthSchedule(**{**dict(start_resolution=8, final_resolution=32, phase_kimg=1), **bad})


def test_resize_reals_matches_the_generator_fade():
    x = torch.randn(2, 3, 16, 16)
    half = torch.nn.functional.avg_pool2d(x, 2)
    torch.testing.assert_close(resize_reals(x, 8, 1.0), half)
    low = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(half, 2), scale_factor=2, mode="nearest")
    torch.testing.assert_close(resize_reals(x, 8, 0.25), torch.lerp(low, half, 0.25))
    torch.testing.assert_close(resize_reals(x, 16, 1.0), x)


# ----- the losses against closed forms, with networks whose gradients are known

class LinearD(torch.nn.Module):
    """D(x) = <W, x> + b: its gradient with respect to x is W for every sample."""

    def __init__(self, shape):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(shape))
        self.b = torch.nn.Parameter(torch.zeros([]))

    def forward(self, img, c=None):
        return (img * self.W).sum([1, 2, 3]).unsqueeze(1) + self.b


class LinearG(torch.nn.Module):
    """ws = z repeated; image = A ws (a linear synthesis), so the path-length gradient is A^T noise."""

    def __init__(self, z_dim=4, num_ws=2, shape=(3, 4, 4)):
        super().__init__()
        self.z_dim, self.num_ws, self.shape = z_dim, num_ws, shape
        self.A = torch.nn.Parameter(torch.randn(int(np.prod(shape)), num_ws * z_dim))
        self.scale = torch.nn.Parameter(torch.ones([]))  # ws depend on a parameter, as in a real mapping
        outer = self

        class Mapping(torch.nn.Module):
            def forward(self, z, c, update_w_avg=None):
                return z.unsqueeze(1).repeat(1, outer.num_ws, 1) * outer.scale

        class Synthesis(torch.nn.Module):
            def forward(self, ws):
                return (ws.flatten(1) @ outer.A.t()).reshape(-1, *outer.shape)

        self.mapping, self.synthesis = Mapping(), Synthesis()


def test_r1_penalty_and_its_gradient_match_the_closed_form():
    G, D = LinearG(), LinearD((3, 4, 4))
    loss = StyleGANLoss(G, D, r1_gamma=3.0, style_mixing_prob=0)
    real = torch.randn(5, 3, 4, 4)
    stats = loss.accumulate_gradients("Dreg", real, None, torch.randn(5, 4), None, gain=16)
    norm2 = D.W.detach().square().sum()
    torch.testing.assert_close(stats["Loss/r1_penalty"], norm2.expand(5))
    # d/dW of gain * gamma/2 * |W|^2 = gain * gamma * W
    torch.testing.assert_close(D.W.grad, 16 * 3.0 * D.W.detach())


def test_wgan_gp_matches_the_closed_form():
    G, D = LinearG(), LinearD((3, 4, 4))
    loss = StyleGANLoss(G, D, loss="wgangp", r1_gamma=0, style_mixing_prob=0)
    stats = loss.accumulate_gradients("Dmain", torch.randn(6, 3, 4, 4), None, torch.randn(6, 4), None, gain=1)
    norm = D.W.detach().square().sum().sqrt()
    torch.testing.assert_close(stats["Loss/D/gp"], (10 * (norm - 1) ** 2).expand(6, 1))


def test_path_length_penalty_matches_the_closed_form():
    G, D = LinearG(), LinearD((3, 4, 4))
    loss = StyleGANLoss(G, D, pl_weight=2.0, pl_decay=0.5, pl_batch_shrink=2, style_mixing_prob=0)
    torch.manual_seed(1)
    z = torch.randn(8, 4)
    stats = loss.accumulate_gradients("Greg", None, None, z, torch.zeros(8, 0), gain=4)
    torch.manual_seed(1)
    torch.randn(8, 4)  # z
    noise = torch.randn(4, 3, 4, 4) / 4  # the loss's next draw, scaled by 1 / sqrt(H * W)
    grads = (noise.flatten(1) @ G.A.detach()).reshape(4, 2, 4)  # d<img, noise>/d ws = A^T noise
    lengths = grads.square().sum(2).mean(1).sqrt()
    pl_mean = 0.5 * lengths.mean()  # lerp(0, mean, 0.5)
    torch.testing.assert_close(stats["Loss/pl_mean"], pl_mean)
    torch.testing.assert_close(stats["Loss/pl_penalty"], (lengths - pl_mean).square())
    assert G.A.grad is not None and torch.isfinite(G.A.grad).all()


def test_style_mixing_takes_later_ws_from_another_latent():
    G, D = LinearG(num_ws=6), LinearD((3, 4, 4))
    loss = StyleGANLoss(G, D, style_mixing_prob=1.0)
    z = torch.randn(3, 4)
    _, ws = loss.run_G(z, torch.zeros(3, 0))
    first = (ws == z.unsqueeze(1)).all(dim=2).all(dim=0)  # which layers still hold z
    cutoff = int(first.int().argmin())
    assert 1 <= cutoff < 6 and first[:cutoff].all() and not first[cutoff:].any()
    assert (ws[:, cutoff:] == ws[:, cutoff:cutoff + 1]).all()  # one other latent for all later layers


def test_non_finite_gradients_never_reach_the_weights(tmp_path, monkeypatch):
    from stylegan.train import loop as loop_module

    calls = {"n": 0}
    original = StyleGANLoss.accumulate_gradients

    def poisoned(self, phase, *args, **kwargs):
        out = original(self, phase, *args, **kwargs)
        calls["n"] += 1
        if phase.name == "Dmain" and calls["n"] <= 4:  # the first D steps: a NaN in one gradient
            next(p for p in self.D.parameters() if p.grad is not None).grad.view(-1)[0] = float("nan")
        return out

    monkeypatch.setattr(loop_module.StyleGANLoss, "accumulate_gradients", poisoned)
    run_dir = tiny_run(tmp_path, kimg=0.016, tick=0.016)
    networks, state = read_snapshot(list_snapshots(run_dir)[-1])
    assert state["nonfinite"]["Dmain"] >= 1
    for name, t in networks["D"].state_dict().items():
        assert torch.isfinite(t).all(), name
    assert stats_lines(run_dir)[-1]["Progress/nonfinite_steps/Dmain"] == state["nonfinite"]["Dmain"]
    assert "non-finite steps skipped" in (run_dir / "log.txt").read_text()


# ----- snapshots survive interruption

def _tiny_networks():
    from test_networks import tiny_discriminator, tiny_generator

    return {"G": tiny_generator(16), "D": tiny_discriminator(16), "G_ema": tiny_generator(16)}


def test_a_failed_snapshot_write_leaves_the_previous_one(tmp_path, monkeypatch):
    nets = _tiny_networks()
    good = write_snapshot(tmp_path, 100, nets, {"nimg": 100})

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"\x80\x02 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_snapshot(tmp_path, 200, nets, {"nimg": 200})
    monkeypatch.undo()
    assert list_snapshots(tmp_path) == [good] and not list(tmp_path.glob(".snapshot-*"))
    networks, state = read_snapshot(list_snapshots(tmp_path)[-1])
    assert state["nimg"] == 100


KILL_SCRIPT = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {tests!r})
    from test_networks import tiny_discriminator, tiny_generator
    from stylegan.train.snapshot import write_snapshot
    nets = {{"G": tiny_generator(16), "D": tiny_discriminator(16), "G_ema": tiny_generator(16)}}
    n = 0
    while True:
        n += 1
        with torch.no_grad():
            for net in nets.values():
                for p in net.parameters():
                    p.fill_(n)  # every tensor of snapshot n holds n
        write_snapshot({run_dir!r}, n, nets, {{"nimg": n, "payload": torch.full([1 << 18], float(n))}})
        print(n, flush=True)
""")


def test_killing_the_process_at_any_moment_leaves_loadable_snapshots(tmp_path):
    rng = np.random.default_rng(0)
    for attempt in range(4):
        run_dir = tmp_path / f"run{attempt}"
        run_dir.mkdir()
        script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), run_dir=str(run_dir))
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "1"  # at least one snapshot complete
        time.sleep(float(rng.uniform(0.0, 0.3)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert all(p.name.endswith(".tmp") for p in run_dir.glob(".*"))  # an interrupted write, never a snapshot
        latest, networks, state, _ = read_for_resume(run_dir)
        assert not list(run_dir.glob(".*"))  # the killed writer's temporary directory is gone once listed
        n = state["nimg"]
        assert latest.name == f"snapshot-{n:09d}" and torch.equal(state["payload"], torch.full([1 << 18], float(n)))
        for net in networks.values():
            assert all((p == n).all() for p in net.parameters())


# ----- options

def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--data", "--resolution", "--cond", "--mirror", "--arch", "--growing", "--gamma", "--loss",
                 "--pl-weight", "--batch", "--fp32", "--tf32", "--resume", "--keep-snapshots", "--kimg"):
        assert flag in text, flag


def test_only_given_flags_are_returned():
    assert vars(build_parser().parse_args([])) == {}
    assert vars(build_parser().parse_args(["--kimg", "5", "--no-growing", "--cond"])) == {"kimg": 5.0,
                                                                                          "growing": False,
                                                                                          "cond": True}


def test_auto_configuration_follows_the_resolution():
    o = resolve_options(TrainingOptions(), 256, builtin=False, world_size=1, cuda=True)
    assert (o.batch, o.cbase, o.cmax, o.glr, o.fp16_res, o.conv_clamp) == (16, 16384, 512, 0.0025, 4, 256)
    assert o.gamma == pytest.approx(0.0002 * 256 ** 2 / 16) and o.ema_kimg == pytest.approx(5)
    o = resolve_options(TrainingOptions(), 1024, builtin=False, world_size=8, cuda=True)
    assert (o.batch, o.batch_gpu, o.cbase, o.glr, o.mbstd_group) == (32, 4, 32768, 0.002, 4)
    o = resolve_options(TrainingOptions(fp32=True), 256, builtin=False, world_size=1, cuda=True)
    assert (o.fp16_res, o.conv_clamp) == (0, None)
    o = resolve_options(TrainingOptions(arch="stylegan"), 32, builtin=True, world_size=1, cuda=False)
    assert o.growing and o.pl_weight == 0 and o.fp16_res == 0 and o.aug == "noaug"
    assert o.metrics == "shapes1k,swd1k"  # the built-in data's default run reports how recognisable its shapes are
    assert resolve_options(TrainingOptions(metrics=""), 32, builtin=True, world_size=1, cuda=False).metrics == ""
    o = resolve_options(TrainingOptions(), 32, builtin=False, world_size=1, cuda=False)
    assert (o.aug, o.augpipe, o.p, o.target, o.ada_kimg, o.metrics) == ("ada", "bgc", 0.0, 0.6, 500, "")
    assert (o.map, o.style_mixing, o.g_reg_interval, o.blur_sigma) == (8, 0.9, 4, 0)
    # StyleGAN3 as NVIDIA trains it: 2-layer mapping, G lr 0.0025 at any size, no style mixing, no G regularizer
    # (so no lazy-regularization phase), and for R a blur of D's input fading out over 200 * batch / 32 kimg.
    o = resolve_options(TrainingOptions(arch="stylegan3-t"), 1024, builtin=False, world_size=8, cuda=True)
    assert (o.map, o.glr, o.style_mixing, o.pl_weight, o.g_reg_interval, o.blur_sigma) == (2, 0.0025, 0, 0, 0, 0)
    o = resolve_options(TrainingOptions(arch="stylegan3-r"), 256, builtin=False, world_size=1, cuda=True)
    assert (o.blur_sigma, o.blur_kimg) == (10, 16 * 200 / 32)


@pytest.mark.parametrize("options, match", [
    (dict(batch=6), "--batch 6 must be a multiple of the number of processes"),
    (dict(batch=8, batch_gpu=3), "--batch-gpu 3 must divide"),
    (dict(batch=8, batch_gpu=2, mbstd_group=4), "multiple of --mbstd-group"),
    (dict(kimg=0), "--kimg must be > 0"),
    (dict(gamma=-1.0), "--gamma must be >= 0"),
    (dict(style_mixing=1.5), "--style-mixing must be in"),
    (dict(arch="stylegan", growing=True, d_arch="skip"), "--growing needs --d-arch"),
    (dict(arch="stylegan2", growing=True), "--growing needs --arch stylegan"),
    (dict(aug="fixed"), "--aug fixed needs --p > 0"),
    (dict(aug="noaug", p=0.2), "--p 0.2 with --aug noaug"),
    (dict(aug="ada", p=1.5), "--p must be in"),
    (dict(aug="ada", target=-0.1), "--target must be in"),
])
def test_bad_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        resolve_options(TrainingOptions(**options), 32, builtin=True, world_size=4, cuda=False)


def test_command_line_errors_are_one_clear_line(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for args, text in ((["--data", str(tmp_path / "missing")], "missing"),
                       (["--resume", str(tmp_path / "nothing")], "no such snapshot or run directory"),
                       (["--batch", "0"], "--batch must be > 0")):
        result = subprocess.run([sys.executable, "-m", "stylegan.train", "--outdir", str(tmp_path), *args],
                                capture_output=True, text=True, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("python -m stylegan.train: error:") and text in result.stderr
        assert result.stderr.count("\n") == 1


def test_dry_run_prints_the_resolved_configuration(tmp_path):
    result = subprocess.run([sys.executable, "-m", "stylegan.train", "--dry-run", "--outdir", str(tmp_path)],
                            capture_output=True, text=True, check=True)
    config = json.loads(result.stdout)
    assert config["resolution"] == 32 and config["batch"] == 16 and config["kimg"] > 0
    assert not list(tmp_path.iterdir())  # nothing written


# ----- two processes

@pytest.mark.parametrize("extra", [[], ["--arch", "stylegan3-t", "--cbase", "64", "--cmax", "8", "--impl", "ref"]],
                         ids=["stylegan2", "stylegan3"])  # StyleGAN3: the magnitude EMAs averaged like w_avg
def test_two_process_gloo_training_keeps_the_replicas_identical(tmp_path, extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "stylegan.train", "--outdir", str(tmp_path), "--check-replicas", "--device", "cpu",
           "--resolution", "16", "--cbase", "256", "--cmax", "32", "--z-dim", "16", "--map", "2", "--batch", "8",
           "--kimg", "0.032", "--tick", "0.016", "--snap", "1", "--workers", "0", "--metrics", "", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and "gpus2" in runs[0].name  # only rank 0 wrote a run directory
    log = (runs[0] / "log.txt").read_text()
    assert log.count("replicas identical on all 2 processes") == 2
    _, state = read_snapshot(list_snapshots(runs[0])[-1])
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["nimg"] == 32
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # each rank its own stream


def test_ctrl_c_finishes_the_step_and_writes_a_snapshot(tmp_path):
    cmd = [sys.executable, "-m", "stylegan.train", "--outdir", str(tmp_path), "--resolution", "16", "--cbase", "256",
           "--cmax", "32", "--z-dim", "16", "--map", "2", "--batch", "4", "--kimg", "1000", "--tick", "0.008",
           "--snap", "1000", "--workers", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    for line in proc.stdout:
        if line.startswith("tick 2"):
            break
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    assert proc.wait(timeout=120) == 130, out
    run_dir, = tmp_path.iterdir()
    _, state = read_snapshot(list_snapshots(run_dir)[-1])
    assert state["nimg"] >= 8 and state["nimg"] % 4 == 0 and state["batch_idx"] == state["nimg"] // 4
    assert "stopping at kimg" in out and f"--resume {run_dir}" in out


def test_resume_resolves_auto_options_again_and_applies_new_rates(tmp_path):
    first = tiny_run(tmp_path, kimg=0.016)
    resumed = run({"resume": str(first), "outdir": str(tmp_path / "runs"), "kimg": 0.024, "batch": 8,
                   "glr": 0.001})
    options = json.loads((resumed / "training_options.json").read_text())["options"]
    assert options["batch"] == 8 and options["gamma"] == pytest.approx(0.0002 * 16 ** 2 / 8)  # re-resolved
    assert options["ema_kimg"] == pytest.approx(8 * 10 / 32)
    _, state = read_snapshot(list_snapshots(resumed)[-1])
    for group in state["optimizers"]["G"]["param_groups"]:
        assert group["lr"] == pytest.approx(0.001 * 4 / 5)  # the new rate, with the lazy-regularization ratio


def test_path_length_mean_ignores_a_non_finite_batch():
    G, D = LinearG(), LinearD((3, 4, 4))
    loss = StyleGANLoss(G, D, pl_weight=2.0, style_mixing_prob=0)
    loss.pl_mean.fill_(0.7)
    with torch.no_grad():
        G.A[0, 0] = float("inf")
    loss.accumulate_gradients("Greg", None, None, torch.randn(8, 4), torch.zeros(8, 0), gain=4)
    assert loss.pl_mean.item() == pytest.approx(0.7)


def test_style_mixing_stays_within_the_layers_in_use_while_growing():
    G, D = LinearG(num_ws=8), LinearD((3, 4, 4))
    # ws 0-1 drive 4x4 layers, 2-3 8x8 ones, and so on (the loss reads the structure from w_inputs only).
    G.synthesis.w_inputs = lambda: [WInput(i, (StyleLayer(f"layer{i}", 4 << (i // 2), affine=None),))
                                    for i in range(8)]

    def render(ws, resolution=None, alpha=1.0):
        return (ws.flatten(1) @ G.A.t()).reshape(-1, 3, 4, 4)

    G.synthesis.forward = render
    loss = StyleGANLoss(G, D, style_mixing_prob=1.0)
    for _ in range(20):
        z = torch.randn(2, 4)
        _, ws = loss.run_G(z, torch.zeros(2, 0), Growth(resolution=8, alpha=1.0))  # blocks 4 and 8: ws 0-3 read
        mixed = ~(ws == z.unsqueeze(1)).all(dim=2).all(dim=0)
        assert mixed[1:4].any()  # the mix always lands on a layer in use


def test_progress_line_reads_the_losses_only_when_it_draws():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    line, reads = ProgressLine(total_kimg=10, stream=Terminal()), []
    for _ in range(100):
        line.update(1.0, 2.0, lambda: reads.append(1) or {"G": 0.5})
    assert len(reads) == 1 and "G 0.500" in line.stream.getvalue()  # drawn at most twice a second


def test_phases_are_described_by_fields():
    o = resolve_options(TrainingOptions(**{**TINY, "g_reg_interval": 4, "d_reg_interval": 0}), 16, True, 1, False)
    G, D = LinearG(), LinearD((3, 4, 4))
    phases = make_phases(o, G, D)
    assert [(p.name, p.kind.network, p.kind.main, p.kind.reg, p.interval) for p in phases] == [
        ("Gmain", "G", True, False, 1), ("Greg", "G", False, True, 4), ("Dboth", "D", True, True, 1)]
    assert PHASES["Greg"] == Phase("G", main=False, reg=True)


def test_stylegan3_networks_and_phases_follow_nvidia(tmp_path):
    # R's G twice as wide as --cbase/--cmax say (D not), magnitude EMA beta from the batch, one G phase.
    o = resolve_options(TrainingOptions(arch="stylegan3-r", **TINY), 16, builtin=True, world_size=1, cuda=False)
    dataset = ShapesDataset(resolution=16, size=8)
    G, D = build_networks(o, dataset)
    assert G.variant == "stylegan3-r" and G.init_kwargs["synthesis_kwargs"]["channel_base"] == 2 * o.cbase
    assert D.init_kwargs["channel_base"] == o.cbase and G.mapping.num_layers == 2
    beta = 0.5 ** (o.batch / 20000)
    assert all(m.magnitude_ema_beta == beta for m in G.synthesis.modules() if hasattr(m, "magnitude_ema_beta"))
    assert [p.kind.name for p in make_phases(o, G, D)] == ["Gboth", "Dmain", "Dreg"]


def test_d_phase_updates_the_magnitude_emas_and_blurs_what_d_sees():
    torch.manual_seed(0)
    G = Generator(16, 0, 16, 16, 3, variant="stylegan3-t", synthesis_kwargs=dict(channel_base=128, channel_max=16))
    D = Discriminator(0, 16, 3, channel_base=128, channel_max=16)
    loss = StyleGANLoss(G, D, style_mixing_prob=0, pl_weight=0, update_emas=True)
    emas = lambda: torch.stack([b.clone() for n, b in G.named_buffers() if n.endswith("magnitude_ema")])
    real, z, c = torch.randn(4, 3, 16, 16), torch.randn(4, 16), torch.zeros(4, 0)
    before = emas()
    loss.accumulate_gradients("Gmain", real, c, z, c, gain=1)
    assert torch.equal(emas(), before)  # G's own phase leaves them
    loss.accumulate_gradients("Dmain", real, c, z, c, gain=1)
    assert not torch.equal(emas(), before)
    # The blur: taps 2^-(x / sigma)^2 for |x| <= 3 sigma, normalised, applied along each axis.
    seen = []
    hook = D.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    loss.run_D(real, c, blur_sigma=1.0)
    hook.remove()
    taps = torch.tensor([2.0 ** -(x ** 2) for x in range(-3, 4)])
    taps /= taps.sum()
    kernel = (taps[:, None] * taps[None, :]).expand(3, 1, 7, 7)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(real, [3] * 4), kernel, groups=3)
    torch.testing.assert_close(seen[0], expected, rtol=1e-5, atol=1e-6)
