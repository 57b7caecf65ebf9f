"""stylegan.cli, what the tools share: exit statuses, number lists, .npz files of ws, the flags every tool defines
through it (each command's --help), and every tool on an NVIDIA network pickle."""

import argparse
import re

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from helpers import read_png, with_defaults
from nvidia_format import nvidia_kwargs, record_of, write_pickle

from stylegan import cli, edit, generate, interpolate, project, style_mixing
from stylegan.images import save_png, to_uint8
from stylegan.perceptual import ENV_VAR


def parser_with_a_number() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--number", type=int, required=True)
    return parser


@pytest.mark.parametrize("argv, status", [(["--help"], 0), ([], 2), (["--number", "x"], 2), (["--number", "3"], 0)])
def test_run_command_returns_argparse_exit_statuses(argv, status, capsys):
    seen = []
    assert cli.run_command(parser_with_a_number(), seen.append, argv) == status
    assert [args.number for args in seen] == ([3] if argv == ["--number", "3"] else [])
    out, err = capsys.readouterr()
    assert ("usage: tool" in out) if argv == ["--help"] else (status == 0 or "--number" in err)


def test_run_command_reports_bad_input_and_converts_arguments(tmp_path, capsys):
    def body(args):
        raise ValueError(f"--number: {args.number} is not welcome")

    assert cli.run_command(parser_with_a_number(), body, ["--number", 7]) == 2
    assert capsys.readouterr().err == "tool: error: --number: 7 is not welcome\n"

    def interrupted(args):
        raise KeyboardInterrupt

    assert cli.run_command(parser_with_a_number(), interrupted, ["--number", 1]) == 130

    def bug(args):
        raise RuntimeError("a bug keeps its traceback")

    with pytest.raises(RuntimeError, match="a bug"):
        cli.run_command(parser_with_a_number(), bug, ["--number", 1])


def test_number_lists_and_seeds():
    assert cli.parse_range("0-3,42, 7", "--seeds") == [0, 1, 2, 3, 42, 7]
    assert cli.parse_seeds("4294967295") == [2 ** 32 - 1]
    for text, message in [("3-1", "runs backwards"), ("1,,2", "neither"), ("", "expected a list"), ("a", "neither")]:
        with pytest.raises(ValueError, match=f"--rows: .*{message}"):
            cli.parse_seeds(text, "--rows")
    with pytest.raises(ValueError, match=r"--rows: seeds must be in \[0, 2\*\*32\)"):
        cli.parse_seeds("4294967296", "--rows")
    with pytest.raises(ValueError, match="--steps: must be at least 2, got 1"):
        cli.check_at_least(1, 2, "--steps")


def test_ws_files_round_trip_and_errors(tmp_path):
    G = tiny_generator()
    ws = cli.ws_from_seeds(G, [1, 2], truncation_psi=0.5)
    cli.save_ws(tmp_path / "w.npz", ws.double())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]  # no temporary file left behind
    assert cli.read_npz(tmp_path / "w.npz", "--ws")["w"].dtype == np.float32
    assert torch.equal(cli.load_ws(tmp_path / "w.npz", G), ws)
    ws_again, stems = cli.source_ws(G, None, tmp_path / "w.npz", truncation_psi=0.5)
    assert stems == ["proj00", "proj01"] and torch.equal(ws_again, G.mapping.truncate(ws, 0.5))
    assert cli.source_ws(G, [1, 2], truncation_psi=0.5)[1] == ["seed0001", "seed0002"]
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "text.npz").write_text("not a zip")
    for name, message in [("absent.npz", "no such file"), ("single.npy", "a single array"),
                          ("text.npz", "cannot read")]:
        with pytest.raises((ValueError, FileNotFoundError), match=f"--latents: .*{message}"):
            cli.read_npz(tmp_path / name, "--latents")
    with pytest.raises(ValueError, match="--class: not used with --ws"):
        cli.source_ws(G, None, tmp_path / "w.npz", class_idx=0)


def test_prepare_outdir(tmp_path):
    assert cli.prepare_outdir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="--outdir: .* exists and is not a directory"):
        cli.prepare_outdir(tmp_path / "file")



def tool_argv(tool: str, tmp_path) -> list:
    """A command line on which `tool` runs (with the tiny network given after it), its inputs written to tmp_path."""
    if tool == "edit":
        edit.save_directions(tmp_path / "d.npz", torch.eye(16)[:2], "test", "tiny")
        return ["apply", "--directions", tmp_path / "d.npz", "--component", "0", "--strength", "1", "--seeds", "1"]
    if tool == "project":
        save_png(np.zeros([16, 16, 3], np.uint8), tmp_path / "target.png")
        return ["--target", tmp_path / "target.png", "--steps", "1"]
    return dict(generate=["--seeds", "1"], style_mixing=["--rows", "1", "--cols", "2"],
                interpolate=["--seeds", "1,2"])[tool]


TOOLS = dict(generate=generate.main, style_mixing=style_mixing.main, interpolate=interpolate.main, edit=edit.main,
             project=project.main)
RENDERING = ["generate", "style_mixing", "interpolate", "edit"]  # the tools with add_rendering_arguments


@pytest.mark.filterwarnings("ignore:no VGG16 weights")  # project loads its distance before it makes --outdir
@pytest.mark.parametrize("tool, argv, message", [
    *[(tool, ["--network", "{tmp}/absent.pkl"], "--network: no such file or directory") for tool in TOOLS],
    *[(tool, ["--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N") for tool in TOOLS],
    *[(tool, ["--outdir", "{tmp}/file"], "--outdir: {tmp}/file exists and is not a directory") for tool in TOOLS],
    *[(tool, ["--class", "0"], "--class: this network is unconditional") for tool in TOOLS],
    *[(tool, ["--trunc", "nan"], "--trunc: expected a finite number") for tool in RENDERING],
    *[(tool, ["--trunc-cutoff", "7"], "--trunc-cutoff: must be in [0, 6]") for tool in RENDERING],
    *[(tool, ["--noise-mode", "loud"], "--noise-mode: invalid choice: 'loud'") for tool in RENDERING],
])
def test_shared_flags_give_clear_errors_in_every_tool(tool, argv, message, tiny_network_file, tmp_path, capsys):
    (tmp_path / "file").write_text("not a directory")
    argv = [str(a).format(tmp=tmp_path) for a in argv]
    defaults = {"--network": tiny_network_file, "--outdir": tmp_path / "out"}
    assert TOOLS[tool](with_defaults(tool_argv(tool, tmp_path) + argv, defaults)) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

HELP = [
    (generate.main, [], "--network --seeds --ws --trunc --trunc-cutoff --noise-mode --class --outdir --grid --device"),
    (style_mixing.main, [], "--network --rows --cols --styles --preset --trunc --trunc-cutoff --noise-mode --class "
                            "--outdir --device"),
    (interpolate.main, [], "--network --seeds --loop --random-walk --steps --step-size --space "
                           "--frames-per-transition --fps --trunc --trunc-cutoff --noise-mode --class --outdir "
                           "--frames --device"),
    (edit.main, [], "ganspace sefa supervised label-shapes render apply"),
    (edit.main, ["ganspace"], "--network --device --samples --seed --class --components --out"),
    (edit.main, ["sefa"], "--network --device --layers --components --out"),
    (edit.main, ["supervised"], "--network --device --latents --labels --out"),
    (edit.main, ["label-shapes"], "--network --device --samples --seed --class --batch-size --out"),
    (edit.main, ["render"], "--network --device --directions --seeds --ws --layers --raw --trunc --trunc-cutoff "
                            "--noise-mode --class --outdir --components --strengths --steps"),
    (edit.main, ["apply"], "--network --device --directions --seeds --ws --layers --raw --trunc --trunc-cutoff "
                           "--noise-mode --class --outdir --component --strength"),
    (project.main, [], "--network --target --outdir --steps --w-plus --seed --lpips --save-video --no-save-video "
                       "--w-avg-samples --class --device"),
]


@pytest.mark.parametrize("main, argv, flags", HELP,
                         ids=[" ".join([main.__module__.split(".")[-1]] + argv) for main, argv, _ in HELP])
def test_help_describes_every_flag(main, argv, flags, capsys):
    assert main(argv + ["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m stylegan.")
    for flag in flags.split():
        assert re.search(rf"^ +(\S+, )?{re.escape(flag)}[ ,\n]", text, re.M), flag


@pytest.fixture
def nvidia_pickle(stand_ins, tmp_path):
    """The tiny generator as an NVIDIA network pickle."""
    G = tiny_generator()
    path = tmp_path / "network-snapshot-000000.pkl"
    write_pickle(path, {"G_ema": record_of(G, "Generator", nvidia_kwargs(G))})
    return path


@pytest.mark.parametrize("tool", ["generate", "style_mixing", "interpolate", "edit", "project"])
def test_every_tool_reads_an_nvidia_pickle(tool, nvidia_pickle, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    net = ["--network", nvidia_pickle]
    G = tiny_generator()
    expected = to_uint8(generate.generate_images(G, [1]))[0]  # what the same network renders for seed 1
    if tool == "generate":
        assert generate.main(net + ["--seeds", "1", "--outdir", out]) == 0
        np.testing.assert_array_equal(read_png(out / "seed0001.png"), expected)
    elif tool == "style_mixing":
        assert style_mixing.main(net + ["--rows", "1", "--cols", "2", "--outdir", out]) == 0
        np.testing.assert_array_equal(read_png(out / "1-1.png"), expected)
        assert read_png(out / "1-2.png").shape == (16, 16, 3)
    elif tool == "interpolate":
        assert interpolate.main(net + ["--seeds", "1,2", "--frames-per-transition", "2", "--frames", "--outdir",
                                       out]) == 0
        np.testing.assert_array_equal(read_png(out / "frames" / "frame0000.png"), expected)
        assert (out / "walk.mp4").is_file() or (out / "walk.gif").is_file()
    elif tool == "edit":
        assert edit.main(["sefa"] + net + ["--components", "2", "--out", tmp_path / "d.npz"]) == 0
        assert edit.main(["apply"] + net + ["--directions", tmp_path / "d.npz", "--component", "0", "--strength",
                                            "0", "--seeds", "1", "--outdir", out]) == 0
        np.testing.assert_array_equal(read_png(out / "seed0001.png"), expected)
    else:
        save_png(expected, tmp_path / "target.png")
        monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no VGG16 weights: the fallback distance
        monkeypatch.delenv(ENV_VAR, raising=False)
        with pytest.warns(UserWarning, match="VGG16"):
            assert project.main(net + ["--target", tmp_path / "target.png", "--steps", "2", "--w-avg-samples", "50",
                                       "--no-save-video", "--outdir", out]) == 0
        assert read_png(out / "proj.png").shape == (16, 16, 3)
    assert "error" not in capsys.readouterr().err
