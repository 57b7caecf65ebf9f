"""`python -m stylegan.edit` runs stylegan.tools.edit, whose Python API is importable from here too."""

import sys

from .tools.edit import *  # noqa: F401,F403
from .tools.edit import main

if __name__ == "__main__":
    sys.exit(main())
