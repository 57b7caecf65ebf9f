"""The `stylegan` command (also `python -m stylegan`): every command of the package as a subcommand, such as
`stylegan generate --network N --seeds 0-3 --outdir out`. Each runs as its own `python -m` form does, with its own
--help and exit status (stylegan.tools.command_line.run_command: bad input is one line on stderr, the traceback only
with --debug)."""

import argparse
import importlib
import sys

from .tools.command_line import run_command

# Subcommand: (the module whose main(argv, prog) runs it, what it does in one line).
COMMANDS = {
    "train": ("stylegan.train.__main__", "train a StyleGAN2 or StyleGAN generator"),
    "generate": ("stylegan.tools.generate", "images for seeds or saved ws"),
    "style-mixing": ("stylegan.tools.style_mixing", "the papers' style-mixing grid: rows' ws with columns' layers"),
    "interpolate": ("stylegan.tools.interpolate", "latent walks between seeds, or random ones, as videos"),
    "edit": ("stylegan.tools.edit", "latent directions (GANSpace, SeFa, supervised) and edits along them"),
    "project": ("stylegan.tools.project", "a real image projected into the generator's W"),
    "metrics": ("stylegan.metrics.__main__", "FID, KID, precision/recall, PPL, SWD of a generator against data"),
    "studio": ("stylegan.studio.__main__", "an interactive page in the browser to explore a generator"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: it lists the commands and checks the name (each command parses its own arguments)."""
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items())
    parser = argparse.ArgumentParser(prog="stylegan", usage="%(prog)s [-h] COMMAND ...", description=__doc__,
                                     epilog=f"commands:\n{listing}\n\n%(prog)s COMMAND --help for each command's "
                                            "options.", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", metavar="COMMAND", choices=COMMANDS, help="the command to run (below)")
    return parser


def main(argv=None) -> int:
    """Runs `stylegan COMMAND ARGS...` with argv (sys.argv[1:] when None); returns the command's exit status."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    debug = argv[:1] == ["--debug"]  # `stylegan --debug COMMAND ...`: the command takes it
    argv = argv[debug:]
    if not argv or argv[0] not in COMMANDS:  # --help, or no or an unknown command: argparse says so
        return run_command(build_parser(), lambda args: None, argv)
    name, args = argv[0], argv[1:] + ["--debug"] * debug
    return importlib.import_module(COMMANDS[name][0]).main(args, prog=f"stylegan {name}")


if __name__ == "__main__":
    sys.exit(main())
