"""python -m stylegan.train (also `stylegan train`): training from the command line; --help lists the options."""

import sys

from ..tools.command_line import run_command
from .launch import run
from .options import PROG, build_parser


def main(argv=None, prog: str = PROG) -> int:
    """Trains with the command line argv (sys.argv[1:] when None), named `prog` in its messages; returns the exit
    status (command_line.run_command's: 2 for bad input, 130 when interrupted, 143 when terminated)."""
    return run_command(build_parser(prog), lambda args: run(vars(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
