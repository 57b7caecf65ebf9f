"""`python -m stylegan.generate` runs stylegan.tools.generate, whose Python API is importable from here too."""

import sys

from .tools.generate import *  # noqa: F401,F403
from .tools.generate import main

if __name__ == "__main__":
    sys.exit(main())
