"""`python -m stylegan.project` runs stylegan.tools.project, whose Python API is importable from here too."""

import sys

from .tools.project import *  # noqa: F401,F403
from .tools.project import main

if __name__ == "__main__":
    sys.exit(main())
