"""`python -m stylegan.interpolate` runs stylegan.tools.interpolate, whose Python API is importable from here too."""

import sys

from .tools.interpolate import *  # noqa: F401,F403
from .tools.interpolate import main

if __name__ == "__main__":
    sys.exit(main())
