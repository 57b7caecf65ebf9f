"""What the commands share (stylegan.tools.command_line, with stylegan.latents and stylegan.checks): exit statuses,
number lists, .npz files of ws, the flags every tool defines through it (each command's --help), every tool on an
NVIDIA network pickle; the `stylegan` command and its subcommands, the `python -m` forms, and the layering (no
library module imports a command-line module)."""

import argparse
import ast
import importlib
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from helpers import read_png, with_defaults
from nvidia_format import nvidia_kwargs, record_of, write_pickle

import stylegan
from stylegan.__main__ import COMMANDS
from stylegan.__main__ import main as stylegan_main
from stylegan.checks import check_at_least
from stylegan.images import save_png, to_uint8
from stylegan.latents import load_ws, read_npz, save_ws, ws_from_seeds
from stylegan.perceptual import ENV_VAR
from stylegan.tools import edit, generate, interpolate, project, style_mixing
from stylegan.tools.command_line import parse_range, parse_seeds, prepare_outdir, run_command, source_ws


def parser_with_a_number() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--number", type=int, required=True)
    return parser


@pytest.mark.parametrize("argv, status", [(["--help"], 0), ([], 2), (["--number", "x"], 2), (["--number", "3"], 0)])
def test_run_command_returns_argparse_exit_statuses(argv, status, capsys):
    seen = []
    assert run_command(parser_with_a_number(), seen.append, argv) == status
    assert [args.number for args in seen] == ([3] if argv == ["--number", "3"] else [])
    out, err = capsys.readouterr()
    assert ("usage: tool" in out) if argv == ["--help"] else (status == 0 or "--number" in err)


def test_run_command_reports_bad_input_and_converts_arguments(tmp_path, capsys):
    def body(args):
        raise ValueError(f"--number: {args.number} is not welcome")

    assert run_command(parser_with_a_number(), body, ["--number", 7]) == 2
    assert capsys.readouterr().err == "tool: error: --number: 7 is not welcome\n"

    def interrupted(args):
        raise KeyboardInterrupt

    assert run_command(parser_with_a_number(), interrupted, ["--number", 1]) == 130

    def bug(args):
        raise RuntimeError("a bug keeps its traceback")

    with pytest.raises(RuntimeError, match="a bug"):
        run_command(parser_with_a_number(), bug, ["--number", 1])


def test_number_lists_and_seeds():
    assert parse_range("0-3,42, 7", "--seeds") == [0, 1, 2, 3, 42, 7]
    assert parse_seeds("4294967295") == [2 ** 32 - 1]
    for text, message in [("3-1", "runs backwards"), ("1,,2", "neither"), ("", "expected a list"), ("a", "neither")]:
        with pytest.raises(ValueError, match=f"--rows: .*{message}"):
            parse_seeds(text, "--rows")
    with pytest.raises(ValueError, match=r"--rows: seeds must be in \[0, 2\*\*32\)"):
        parse_seeds("4294967296", "--rows")
    with pytest.raises(ValueError, match="--steps: must be at least 2, got 1"):
        check_at_least(1, 2, "--steps")


def test_ws_files_round_trip_and_errors(tmp_path):
    G = tiny_generator()
    ws = ws_from_seeds(G, [1, 2], truncation_psi=0.5)
    save_ws(tmp_path / "w.npz", ws.double())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]  # no temporary file left behind
    assert read_npz(tmp_path / "w.npz", "--ws")["w"].dtype == np.float32
    assert torch.equal(load_ws(tmp_path / "w.npz", G), ws)
    ws_again, stems = source_ws(G, None, tmp_path / "w.npz", truncation_psi=0.5)
    assert stems == ["proj00", "proj01"] and torch.equal(ws_again, G.mapping.truncate(ws, 0.5))
    assert source_ws(G, [1, 2], truncation_psi=0.5)[1] == ["seed0001", "seed0002"]
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "text.npz").write_text("not a zip")
    for name, message in [("absent.npz", "no such file"), ("single.npy", "a single array"),
                          ("text.npz", "cannot read")]:
        with pytest.raises((ValueError, FileNotFoundError), match=f"--latents: .*{message}"):
            read_npz(tmp_path / name, "--latents")
    with pytest.raises(ValueError, match="--class: not used with --ws"):
        source_ws(G, None, tmp_path / "w.npz", class_idx=0)


def test_prepare_outdir(tmp_path):
    assert prepare_outdir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="--outdir: .* exists and is not a directory"):
        prepare_outdir(tmp_path / "file")



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


# ----- the stylegan command, the python -m forms, and the layering


def help_text(call, capsys) -> tuple:
    """(exit status, stdout) of a command asked for --help; argparse's SystemExit counts as the status."""
    try:
        status = call()
    except SystemExit as e:
        status = e.code
    return status, capsys.readouterr().out


def test_stylegan_lists_its_commands_one_line_each(capsys):
    assert stylegan_main(["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: stylegan [-h] COMMAND ...")
    for name, (_, summary) in COMMANDS.items():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(summary)}$", text, re.M), name


def test_every_python_m_command_is_a_stylegan_command():
    root = Path(stylegan.__file__).parent
    modules = {path.parent.name for path in root.glob("*/__main__.py")}
    modules |= {path.stem for path in root.glob("*.py") if '__name__ == "__main__"' in path.read_text()}
    assert {name.replace("_", "-") for name in modules - {"__main__"}} == set(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_stylegan_command_is_the_tools_own(name, capsys):
    status, text = help_text(lambda: stylegan_main([name, "--help"]), capsys)
    assert status == 0 and text.startswith(f"usage: stylegan {name} ")
    module = importlib.import_module(COMMANDS[name][0])
    status, own = help_text(lambda: module.main(["--help"]), capsys)
    prog = re.match(r"usage: (python -m stylegan\.\w+) ", own).group(1)
    assert status == 0 and " ".join(text.replace(f"stylegan {name}", prog).split()) == " ".join(own.split())


@pytest.mark.parametrize("argv, message", [([], "the following arguments are required: COMMAND"),
                                            (["nope"], "argument COMMAND: invalid choice: 'nope'")])
def test_stylegan_refuses_a_missing_or_unknown_command(argv, message, capsys):
    assert stylegan_main(argv) == 2
    assert message in capsys.readouterr().err


def test_stylegan_returns_the_commands_exit_status(tiny_network_file, tmp_path, capsys):
    assert stylegan_main(["generate", "--network", tiny_network_file, "--seeds", "1", "--outdir", tmp_path]) == 0
    assert read_png(tmp_path / "seed0001.png").shape == (16, 16, 3)
    assert stylegan_main(["style-mixing", "--network", tmp_path / "absent.pkl", "--rows", "1", "--cols", "2",
                          "--outdir", tmp_path]) == 2
    assert "stylegan style-mixing: error: --network: no such file or directory" in capsys.readouterr().err
    assert stylegan_main(["train", "--batch", "x"]) == 2  # argparse's own exit, inside train
    assert "stylegan train: error: argument --batch: invalid int value: 'x'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["metrics", "train"])
def test_metrics_and_train_share_the_device_flag(name, tiny_network_file, tmp_path, capsys):
    argv = ["--metrics", "fid", "--network", tiny_network_file] if name == "metrics" else ["--outdir", tmp_path]
    assert stylegan_main([name, *argv, "--device", "tpu"]) == 2
    assert "--device must be auto, cpu, cuda or cuda:N, got 'tpu'" in capsys.readouterr().err


def test_the_console_script_runs_the_stylegan_command(tmp_path):
    """The script pyproject.toml declares, run as pip's wrapper runs it, and `python -m stylegan`."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((Path(stylegan.__file__).parents[1] / "pyproject.toml").read_text())
    entry_point = importlib.metadata.EntryPoint("stylegan", config["project"]["scripts"]["stylegan"],
                                                "console_scripts")
    assert entry_point.load() is stylegan_main
    wrapper = f"import sys; from stylegan.{entry_point.module.split('.', 1)[1]} import {entry_point.attr}; " \
              f"sys.exit({entry_point.attr}())"
    argv = ["edit", "sefa", "--network", str(tmp_path / "absent.pkl"), "--out", str(tmp_path / "d.npz")]
    for command in ([sys.executable, "-c", wrapper], [sys.executable, "-m", "stylegan"]):
        result = subprocess.run(command + argv, capture_output=True, text=True)
        assert result.returncode == 2
        assert result.stderr == f"stylegan edit: error: --network: no such file or directory: {tmp_path}/absent.pkl\n"


def test_every_package_is_installed():
    tomllib = pytest.importorskip("tomllib")
    root = Path(stylegan.__file__).parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    packages = {".".join(path.parent.relative_to(root).parts) for path in (root / "stylegan").rglob("__init__.py")}
    assert packages <= set(config["tool"]["setuptools"]["packages"])


@pytest.mark.parametrize("tool", ["generate", "style_mixing", "interpolate", "edit", "project"])
def test_python_m_stylegan_tool_still_runs_the_tool(tool):
    shim, module = importlib.import_module(f"stylegan.{tool}"), importlib.import_module(f"stylegan.tools.{tool}")
    assert all(getattr(shim, name) is getattr(module, name) for name in module.__all__)
    result = subprocess.run([sys.executable, "-m", f"stylegan.{tool}", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith(f"usage: python -m stylegan.{tool} ")


def imported_modules(path: Path, package: str):
    """The absolute names of the modules (and the names from them) that the Python file `path` of `package`
    imports."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_no_library_module_imports_a_command_line_module():
    """Only commands (the tools, the studio app, __main__ modules, modules run as `python -m`) import stylegan.tools."""
    root = Path(stylegan.__file__).parent
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if relative.parts[0] in ("tools", "studio") or path.name == "__main__.py" or '__name__ == "__main__"' in path.read_text():
            continue
        package = ".".join(("stylegan",) + relative.parent.parts)
        bad = [m for m in imported_modules(path, package) if m == "stylegan.tools" or m.startswith("stylegan.tools.")]
        assert not bad, f"{relative} imports {bad}"
