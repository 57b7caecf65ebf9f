"""Bad input to the commands (the tools, metrics and the `stylegan` command; training has test_bad_input_training):
the package's user errors are one line on stderr and exit status 2, with the traceback only with --debug; hostile
pickles, absurd seed lists and a full disk included."""

import errno
import os
import pickle
from pathlib import Path

import pytest
from PIL import Image

from stylegan.__main__ import main as stylegan_main
from stylegan.metrics.__main__ import main as metrics_main
from stylegan.tools import edit, generate, interpolate, style_mixing
from stylegan.tools.command_line import MAX_LIST_ITEMS, parse_range, run_command


class _RunsCode:
    """Pickles as a call of os.system: what a hostile network pickle does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_hostile_pickle(path: Path) -> Path:
    """A network pickle that creates a marker file when loaded unsafely; returns the marker's path."""
    marker = path.with_name(path.name + ".ran")
    path.write_bytes(pickle.dumps({"G_ema": _RunsCode(marker), "G": _RunsCode(marker), "D": _RunsCode(marker)},
                                  protocol=4))
    return marker


def parser():
    import argparse

    p = argparse.ArgumentParser(prog="tool")
    p.add_argument("--x", default="")
    return p


@pytest.mark.parametrize("error, line", [
    (ValueError("--x: bad\nvery bad"), "--x: bad very bad"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "a.png"), "a.png: No such file or directory"),
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (KeyError("the file holds no network 'G'"), "the file holds no network 'G'"),
    (pickle.UnpicklingError("not a network pickle we trust"), "not a network pickle we trust"),
])
def test_user_errors_are_one_line_and_the_traceback_comes_with_debug(error, line, capsys):
    def fail(args):
        raise error

    assert run_command(parser(), fail, []) == 2
    assert capsys.readouterr().err == f"tool: error: {line}\n"
    assert run_command(parser(), fail, ["--debug"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.endswith(f"tool: error: {line}\n")


def test_a_bug_keeps_its_traceback_and_an_interrupt_its_status():
    def bug(args):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        run_command(parser(), bug, [])

    class Terminated(KeyboardInterrupt):
        exit_status = 143

    for interrupt, status in ((KeyboardInterrupt(), 130), (Terminated(), 143)):
        def stop(args):
            raise interrupt
        assert run_command(parser(), stop, []) == status


def test_an_absurd_seed_list_is_counted_before_it_is_built(tiny_network_file, tmp_path, capsys):
    # Counts a regression could still build (0-999999999 would take tens of GB before it failed).
    with pytest.raises(ValueError, match=r"^--rows: '1,0-199999,5' lists 200002 numbers; at most 100000 are taken "
                                         r"at once$"):
        parse_range("1,0-199999,5", "--rows")
    assert len(parse_range(f"0-{MAX_LIST_ITEMS - 1}", "--seeds")) == MAX_LIST_ITEMS
    assert generate.main(["--network", tiny_network_file, "--seeds", "0-9999999", "--outdir", tmp_path / "out"]) == 2
    assert capsys.readouterr().err == "python -m stylegan.generate: error: --seeds: '0-9999999' lists 10000000 " \
                                      "numbers; at most 100000 are taken at once\n"
    assert not (tmp_path / "out").exists()


COMMANDS = {
    "generate": (generate.main, ["--seeds", "1", "--outdir", "{tmp}/out"]),
    "style_mixing": (style_mixing.main, ["--rows", "1", "--cols", "2", "--outdir", "{tmp}/out"]),
    "interpolate": (interpolate.main, ["--seeds", "1,2", "--outdir", "{tmp}/out"]),
    "edit": (edit.main, ["sefa", "--out", "{tmp}/d.npz"]),
    "metrics": (metrics_main, ["--metrics", "swd64"]),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_hostile_pickle_is_refused_in_one_line(command, tmp_path, capsys):
    main, argv = COMMANDS[command]
    marker = write_hostile_pickle(tmp_path / "evil.pkl")
    argv = [a.format(tmp=tmp_path) for a in argv]
    if command == "edit":
        argv = argv[:1] + ["--network", tmp_path / "evil.pkl"] + argv[1:]
    else:
        argv = ["--network", tmp_path / "evil.pkl"] + argv
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error: " in err and "not a network pickle we trust" in err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_the_stylegan_command_refuses_a_hostile_pickle_in_one_line(tmp_path, capsys):
    marker = write_hostile_pickle(tmp_path / "evil.pkl")
    for argv in (["generate", "--network", tmp_path / "evil.pkl", "--seeds", "1", "--outdir", tmp_path / "out"],
                 ["train", "--resume", tmp_path / "evil.pkl", "--outdir", tmp_path / "out"]):
        assert stylegan_main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"stylegan {argv[0]}: error: ") and err.count("\n") == 1
        assert "not a network pickle we trust" in err
    assert stylegan_main(["--debug", "generate", "--network", tmp_path / "evil.pkl", "--seeds", "1", "--outdir",
                          tmp_path / "out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "UntrustedPickleError" in err and "\nstylegan generate: error: " in err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_partial_png(tiny_network_file, tmp_path, capsys,
                                                                           monkeypatch):
    def full_disk(image, fp, *args, **kwargs):
        Path(fp).write_bytes(b"\x89PNG part")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", full_disk)
    assert stylegan_main(["generate", "--network", tiny_network_file, "--seeds", "1", "--outdir", tmp_path]) == 2
    assert capsys.readouterr().err == f"stylegan generate: error: {tmp_path}/seed0001.png: No space left on device\n"
    assert list(tmp_path.iterdir()) == []
