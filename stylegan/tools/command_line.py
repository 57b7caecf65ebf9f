"""What the commands share on the command line: their common flags (each defined once here), number lists such as
'0-15,42', the ws to render (seeds or a --ws file), the output directory, and one way to run a command and report bad
input (one line naming the argument or file, exit status 2; the traceback only with --debug)."""

import argparse
import pickle
import re
import sys
import traceback
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from ..checks import DEVICE_CHOICES, UserError, check_outdir, check_seeds, os_error_text
from ..latents import check_truncation, load_ws, ws_from_seeds
from ..networks.synthesis import NOISE_MODES

_ITEM = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$")
MAX_LIST_ITEMS = 100_000  # more is a typo such as 0-999999999, or more work than one command should take on


def parse_range(text: str, name: str) -> List[int]:
    """'0-15,42' -> [0, 1, ..., 15, 42]: comma-separated integers and inclusive ranges a-b (a <= b), in the order given,
    at most MAX_LIST_ITEMS in all (counted before the list is built). A ValueError naming `name` for anything else."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{name}: expected a list such as '0-15,42', got {text!r}")
    spans = []
    for item in text.split(","):
        m = _ITEM.match(item)
        if m is None:
            raise ValueError(f"{name}: {item.strip()!r} in {text!r} is neither an integer nor a range a-b")
        lo = int(m.group(1))
        hi = lo if m.group(2) is None else int(m.group(2))
        if hi < lo:
            raise ValueError(f"{name}: the range {item.strip()!r} runs backwards")
        spans.append((lo, hi))
    count = sum(hi - lo + 1 for lo, hi in spans)
    if count > MAX_LIST_ITEMS:
        raise ValueError(f"{name}: {text!r} lists {count} numbers; at most {MAX_LIST_ITEMS} are taken at once")
    return [i for lo, hi in spans for i in range(lo, hi + 1)]


def parse_seeds(text: str, name: str = "--seeds") -> List[int]:
    """parse_range of seeds, each checked by check_seeds."""
    seeds = parse_range(text, name)
    check_seeds(seeds, name)
    return seeds


def source_ws(G: torch.nn.Module, seeds: Optional[Sequence[int]], ws_file=None, truncation_psi: float = 1,
              truncation_cutoff: Optional[int] = None,
              class_idx: Optional[int] = None) -> Tuple[torch.Tensor, List[str]]:
    """The ws to render [N, num_ws, w_dim] and a file name stem for each: the seeds' (ws_from_seeds; stems
    seedNNNN), or when seeds is None those of the --ws file `ws_file` (load_ws; stems projNN, as NVIDIA's
    generate.py names them), truncated alike. --class is refused with --ws: the saved ws already hold their class."""
    check_truncation(G, truncation_psi, truncation_cutoff)
    if seeds is not None:
        return (ws_from_seeds(G, seeds, truncation_psi, truncation_cutoff, class_idx),
                [f"seed{seed:04d}" for seed in seeds])
    if class_idx is not None:
        raise ValueError("--class: not used with --ws (the saved ws already hold their class)")
    ws = G.mapping.truncate(load_ws(ws_file, G), truncation_psi, truncation_cutoff)
    return ws, [f"proj{idx:02d}" for idx in range(len(ws))]


def prepare_outdir(path, name: str = "--outdir") -> Path:
    """The output directory, created (with its parents) when missing; a ValueError naming `name` when it cannot be
    (checks.check_outdir)."""
    path = check_outdir(path, name)
    path.mkdir(parents=True, exist_ok=True)
    return path


# The flags the tools share, each defined once.


def command_parser(prog: str, doc: str, **kwargs) -> argparse.ArgumentParser:
    """The parser of the command `prog` (such as 'python -m stylegan.generate' or 'stylegan generate'), its docstring
    `doc` as the description, printed as written."""
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   **kwargs)


def add_network_argument(parser: argparse.ArgumentParser) -> None:
    """--network PATH (required)."""
    parser.add_argument("--network", required=True, metavar="PATH",
                        help="generator to use: an NVIDIA network pickle (read safely, no code runs), one of our "
                             "safetensors files, a snapshot directory, a run directory (its newest snapshot), or an http(s) URL of "
                             "a network file (downloaded once into the cache)")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """--device (stylegan.checks.pick_device's spec)."""
    parser.add_argument("--device", default="auto", help=f"{DEVICE_CHOICES} (auto, the default: CUDA when available)")


def add_class_argument(parser: argparse.ArgumentParser, what: str = "image", help: Optional[str] = None) -> None:
    """--class C (dest class_idx): by default required for a conditional network and refused otherwise."""
    parser.add_argument("--class", dest="class_idx", type=int, default=None, metavar="C",
                        help=help or f"class label of every {what}; required for a conditional network, refused "
                                     "otherwise")


def add_rendering_arguments(parser: argparse.ArgumentParser, what: str = "image") -> None:
    """--trunc, --trunc-cutoff, --noise-mode and --class, for rendering `what`s (images, frames)."""
    parser.add_argument("--trunc", type=float, default=1.0, metavar="PSI",
                        help="truncation psi: w = w_avg + psi * (w - w_avg); 1 (the default) is none, 0 gives the "
                             "average image")
    parser.add_argument("--trunc-cutoff", type=int, default=None, metavar="K",
                        help="truncate only the first K ws (all when not given)")
    parser.add_argument("--noise-mode", choices=NOISE_MODES, default="const",
                        help=f"per-layer noise: const (the network's fixed noise; the default), random (fresh for "
                             f"every {what}) or none")
    add_class_argument(parser, what)


def add_latent_source_arguments(parser: argparse.ArgumentParser, what: str = "render") -> None:
    """--seeds LIST or --ws FILE (one of them required), for source_ws."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seeds", metavar="LIST", help=f"seeds to {what}, e.g. '0-15,42' (files seedNNNN.*)")
    source.add_argument("--ws", metavar="FILE",
                        help=f"saved w vectors to {what} instead of seeds: an .npz file with an array 'w' of shape "
                             "[N, num_ws, w_dim] or [N, w_dim] such as projected_w.npz, truncated by --trunc like "
                             "the seeds' ws (files projNN.*)")


def add_outdir_argument(parser: argparse.ArgumentParser, contents: str) -> None:
    """--outdir DIR (required), where `contents` go."""
    parser.add_argument("--outdir", required=True, metavar="DIR", help=f"where to write {contents} (created if "
                                                                         "missing)")


# What a command reports as one line without a traceback (anything else is a bug and keeps it): our UserError, bad
# values (ValueError; KeyError for an entry a file lacks), files and disks (OSError: missing, unreadable, read-only,
# full), files that are no network pickle we trust (pickle.UnpicklingError, UntrustedPickleError included), and a
# device out of memory.
USER_ERRORS = (UserError, ValueError, KeyError, OSError, pickle.UnpicklingError, torch.OutOfMemoryError)


def error_line(error: BaseException) -> str:
    """The message of one of USER_ERRORS as one line."""
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    elif isinstance(error, OSError):
        text = os_error_text(error)
    else:
        text = str(error)
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or type(error).__name__


def run_command(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], None], argv=None) -> int:
    """Parses argv (sys.argv[1:] when None; other items than strings, such as paths, are converted with str) and runs
    body(args). Returns the exit status: argparse's own (0 after --help, 2 for a usage error); one of USER_ERRORS
    becomes 'PROG: error: ...' on stderr (with its traceback when argv holds --debug, anywhere) and 2; an interrupt
    130, or the exit_status it carries (training stopped by SIGTERM: 143); 0 when done. Anything else is a bug and
    keeps its traceback."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error, not only its one line")
    debug = "--debug" in argv
    try:
        args = parser.parse_args([a for a in argv if a != "--debug"])  # taken after a subcommand too
    except SystemExit as e:  # as the interpreter reads it: None is 0, a message 1
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    try:
        body(args)
    except KeyboardInterrupt as e:
        return getattr(e, "exit_status", 130)
    except USER_ERRORS as e:
        if debug:
            traceback.print_exc()
        print(f"{parser.prog}: error: {error_line(e)}", file=sys.stderr)
        return 2
    return 0

