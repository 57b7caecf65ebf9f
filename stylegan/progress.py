"""Progress of long loops on stderr, for the tools, the metrics and anything else that loops over many items."""

import sys
from typing import Sequence


def progress(items: Sequence, what: str, stream=None):
    """Yields items while showing 'what i/n' on stderr: rewritten in place on a terminal, else a line at every
    tenth of the way."""
    stream = stream or sys.stderr
    total = len(items)
    tty = stream.isatty()
    step = max(total // 10, 1)
    for i, item in enumerate(items):
        yield item
        done = i + 1
        if tty:
            stream.write(f"\r{what} {done}/{total}" + ("\n" if done == total else ""))
            stream.flush()
        elif done % step == 0 or done == total:
            print(f"{what} {done}/{total}", file=stream, flush=True)
