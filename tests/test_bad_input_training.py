"""Bad input to `python -m stylegan.train`: options that are not finite or out of range, an --outdir that cannot be
written, broken datasets and network files, broken snapshots to resume from, a full disk, signals. Each is one line on
stderr and exit status 2 (or 128 + the signal), with nothing created before the check."""

import contextlib
import errno
import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_input_cli import write_hostile_pickle

from stylegan.train.__main__ import main
from stylegan.train.loop import TrainingLoop
from stylegan.train.snapshot import (BrokenSnapshotError, _host, list_snapshots, read_for_resume, snapshot_name,
                                     write_snapshot)

PROG = "python -m stylegan.train"
TINY = ["--resolution", "16", "--cbase", "256", "--cmax", "32", "--z-dim", "16", "--map", "2", "--batch", "4",
        "--workers", "0", "--tick", "0.004", "--snap", "1", "--metrics", ""]


def one_error_line(capsys) -> str:
    """The error line on stderr (the only line there), without the program's name."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{PROG}: error: "), err
    return err[len(f"{PROG}: error: "):-1]


@pytest.fixture
def small_grids(monkeypatch):
    """Sample grids of 2 images instead of up to 96: the runs below test what happens around the loop."""
    monkeypatch.setattr(TrainingLoop, "_grid_size", lambda self: (2, 1))


@pytest.mark.parametrize("argv, message", [
    (["--kimg", "inf"], "--kimg must be a finite number, got inf"),
    (["--kimg", "nan", "--dry-run"], "--kimg must be a finite number, got nan"),
    (["--kimg", "-1"], "--kimg must be > 0, got -1.0"),
    (["--tick", "inf"], "--tick must be a finite number, got inf"),
    (["--gamma=-inf"], "--gamma must be a finite number, got -inf"),
    (["--seed", "-1"], "--seed: seeds must be in [0, 2**32), got [-1]"),
    (["--seed", str(2 ** 32)], "--seed: seeds must be in [0, 2**32), got [4294967296]"),
    (["--batch", "100000"], "--batch 100000: 100000 images of 32x32 per process in one pass is more than an automatic "
                            "--batch-gpu takes; give --batch-gpu (such as 32: the batch in 3125 rounds)"),
], ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_bad_options_are_one_line_before_any_folder(argv, message, tmp_path, capsys):
    assert main(argv + ["--outdir", tmp_path / "runs"]) == 2
    assert one_error_line(capsys) == message
    assert not (tmp_path / "runs").exists()


def test_an_outdir_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("")
    for outdir, message in [(tmp_path / "file", f"--outdir: {tmp_path}/file exists and is not a directory"),
                            (tmp_path / "file" / "runs", f"--outdir: {tmp_path}/file/runs cannot be created: "
                                                         f"{tmp_path}/file is not a directory")]:
        assert main(["--outdir", outdir]) == 2
        assert one_error_line(capsys) == message
    access = os.access  # root may write anywhere: the read-only directory is simulated
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path / "ro" and access(path, mode))
    (tmp_path / "ro").mkdir()
    assert main(["--outdir", tmp_path / "ro" / "runs"]) == 2
    assert one_error_line(capsys) == f"--outdir: {tmp_path}/ro is read-only, so {tmp_path}/ro/runs cannot be created"
    assert not (tmp_path / "ro" / "runs").exists()


def test_a_dataset_with_a_nan_label_is_one_line_before_any_folder(tmp_path, capsys):
    from test_bad_input_datasets import _png

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        (data / f"{i}.png").write_bytes(_png(i))
    (data / "dataset.json").write_text('{"labels": [["0.png", [1.0]], ["1.png", [NaN]]]}')
    assert main(["--data", data, "--cond", "--outdir", tmp_path / "runs"]) == 2
    assert one_error_line(capsys) == f"{data}: the label of 1.png in dataset.json holds nan, not a finite float32 " \
                                     "number"
    assert not (tmp_path / "runs").exists()


def test_resume_from_a_file_that_is_no_pickle_or_a_hostile_pickle_is_one_line(tmp_path, capsys):
    (tmp_path / "G.safetensors").write_bytes(b"weights")
    assert main(["--resume", tmp_path / "G.safetensors", "--outdir", tmp_path / "runs"]) == 2
    assert one_error_line(capsys).startswith(f"--resume: {tmp_path}/G.safetensors is not something to resume from: "
                                             "give a snapshot directory")
    marker = write_hostile_pickle(tmp_path / "evil.pkl")
    assert main(["--resume", tmp_path / "evil.pkl", "--outdir", tmp_path / "runs"]) == 2
    assert "not a network pickle we trust" in one_error_line(capsys)
    assert not marker.exists() and not (tmp_path / "runs").exists()


# ----- broken snapshots

def snapshots_of_tiny_networks(run_dir: Path, counts=(4, 8, 12)) -> list:
    from test_networks import tiny_discriminator, tiny_generator

    run_dir.mkdir()
    nets = {"G": tiny_generator(16), "D": tiny_discriminator(16), "G_ema": tiny_generator(16)}
    return [write_snapshot(run_dir, n, nets, {"nimg": n}) for n in counts]


def break_file(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize("file", ["G.safetensors", "training_state.pt"])
def test_resume_passes_over_broken_snapshots_and_offers_the_newest_intact_one(file, tmp_path, capsys):
    first, second, third = snapshots_of_tiny_networks(tmp_path / "run")
    break_file(third / file)
    snapshot, networks, state, broken = read_for_resume(tmp_path / "run")
    assert snapshot == second and state["nimg"] == 8 and sorted(networks) == ["D", "G", "G_ema"]
    assert len(broken) == 1 and broken[0].startswith(f"{third / file} does not read back (")
    with pytest.raises(BrokenSnapshotError) as e:
        read_for_resume(third)
    assert str(e.value).endswith(f"; the newest intact snapshot before it is {second}: give --resume {second}")
    assert main(["--resume", third, "--outdir", tmp_path / "runs"]) == 2  # the same, as one line
    assert one_error_line(capsys) == str(e.value) and not (tmp_path / "runs").exists()
    break_file(second / "D.safetensors")
    (first / "G_ema.safetensors").unlink()
    with pytest.raises(BrokenSnapshotError, match="; its run has no intact snapshot before it$"):
        read_for_resume(third)
    with pytest.raises(BrokenSnapshotError, match=f"no snapshot of {tmp_path / 'run'} reads back whole: {third / file} "
                                                  f"does not read back .*; {first}/G_ema.safetensors is missing$"):
        read_for_resume(tmp_path / "run")


def test_listing_snapshots_removes_what_killed_writers_left(tmp_path):
    snapshots_of_tiny_networks(tmp_path / "run", counts=(4,))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = _host()
    leftovers = {name: tmp_path / "run" / name for name in (
        f".{snapshot_name(8)}.{host}.{dead.pid}.abc.tmp",  # a killed writer: removed
        f".{snapshot_name(8)}.{host}.{os.getpid()}.abc.tmp",  # a write in progress: kept
        f".{snapshot_name(8)}.elsewhere.{dead.pid}.abc.tmp")}  # another machine's writer: kept
    for path in leftovers.values():
        path.mkdir()
        (path / "G.safetensors").write_bytes(b"part")
    assert [p.name for p in list_snapshots(tmp_path / "run")] == [snapshot_name(4)]
    assert [path.exists() for path in leftovers.values()] == [False, True, True]


# ----- runs stopped by signals and by a full disk

def counting_step(action=lambda loop: None):
    """A TrainingLoop.step that only counts the images, then calls action(loop): these tests are about what happens
    around the steps."""
    def step(self, images, labels):
        self.nimg += self.o.batch
        self.batch_idx += 1
        action(self)
    return step


@pytest.fixture(scope="module")
def terminated_run(tmp_path_factory):
    """(exit status, run directory, stdout) of a run sent SIGTERM after 8 images (snapshots at 4 and 8)."""
    outdir = tmp_path_factory.mktemp("terminated")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TrainingLoop, "_grid_size", lambda self: (2, 1))
        patch.setattr(TrainingLoop, "step", counting_step(
            lambda loop: loop.nimg == 8 and os.kill(os.getpid(), signal.SIGTERM)))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(TINY + ["--kimg", "1", "--outdir", outdir])
    run_dir, = outdir.iterdir()
    return status, run_dir, out.getvalue()


def test_sigterm_writes_a_snapshot_and_exits_143(terminated_run):
    status, run_dir, out = terminated_run
    assert status == 143
    assert [p.name for p in list_snapshots(run_dir)] == [snapshot_name(4), snapshot_name(8)]
    assert "stopping at kimg 0.008 (SIGTERM): writing a snapshot" in out
    assert f"continue with: {PROG} --resume {run_dir}" in out


def test_resuming_a_run_says_which_newer_snapshot_it_passed_over(terminated_run, tmp_path, small_grids, capsys):
    run_dir = shutil.copytree(terminated_run[1], tmp_path / "run")
    break_file(run_dir / snapshot_name(8) / "G_ema.safetensors")
    resumed = tmp_path / "runs"
    assert main(["--resume", run_dir, "--kimg", "0.004", "--outdir", resumed]) == 0
    log = next(resumed.iterdir()).joinpath("log.txt").read_text()
    assert f"resume: passed over 1 newer snapshot(s) that do not read back ({run_dir}/{snapshot_name(8)}/" \
           f"G_ema.safetensors does not read back (" in log
    assert f"resuming from {snapshot_name(4)}, the newest intact one" in log and "resumed from" in log


def test_two_quick_ctrl_cs_offer_no_resume_without_a_snapshot(tmp_path, small_grids, monkeypatch, capsys):
    monkeypatch.setattr(TrainingLoop, "step", counting_step(
        lambda loop: [os.kill(os.getpid(), signal.SIGINT) for _ in range(2)]))
    assert main(TINY + ["--kimg", "1", "--outdir", tmp_path]) == 130
    out = capsys.readouterr().out
    assert "stopped; no snapshot was written, so there is nothing to resume" in out and "--resume" not in out
    run_dir, = tmp_path.iterdir()
    assert list_snapshots(run_dir) == [] and not list(run_dir.glob(".snapshot-*"))


def test_a_full_disk_is_one_line_and_leaves_no_partial_snapshot(tmp_path, small_grids, monkeypatch, capsys):
    def full_disk(net, path):
        Path(path).write_bytes(b"part of a network")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("stylegan.train.snapshot.save_network", full_disk)
    monkeypatch.setattr(TrainingLoop, "step", counting_step())
    assert main(TINY + ["--kimg", "0.004", "--outdir", tmp_path]) == 2
    run_dir, = tmp_path.iterdir()
    assert one_error_line(capsys) == f"training stopped: writing in {run_dir}: No space left on device; no snapshot " \
                                     "was written, so there is nothing to resume"
    assert list_snapshots(run_dir) == [] and not list(run_dir.glob(".snapshot-*"))
    assert (run_dir / f"fakes{4:09d}.png").is_file()  # the loop ran to its first snapshot
