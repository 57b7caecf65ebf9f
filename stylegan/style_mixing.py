"""`python -m stylegan.style_mixing` runs stylegan.tools.style_mixing, whose Python API is importable from here too."""

import sys

from .tools.style_mixing import *  # noqa: F401,F403
from .tools.style_mixing import main

if __name__ == "__main__":
    sys.exit(main())
