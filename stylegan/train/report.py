"""What a training run shows and writes: the progress line, per-tick statistics (stats.jsonl and TensorBoard), the
log file, and image grids."""

import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, Optional, TextIO

import numpy as np
import torch


class Statistics:
    """Running sums of the values reported during a tick, kept on the device until the tick ends."""

    def __init__(self):
        self.sums: Dict[str, torch.Tensor] = {}
        self.counts: Dict[str, int] = defaultdict(int)

    def add(self, name: str, value: torch.Tensor) -> None:
        value = value.detach().float()
        total = value.sum()
        self.sums[name] = self.sums[name] + total if name in self.sums else total
        self.counts[name] += value.numel()

    def means(self, average=None) -> Dict[str, float]:
        """The mean of every value reported since the last reset (over the ranks, by `average`)."""
        if not self.sums:
            return {}
        names = sorted(self.sums)
        sums = torch.stack([self.sums[n] for n in names]).double()
        counts = torch.tensor([float(self.counts[n]) for n in names], dtype=torch.float64, device=sums.device)
        if average is not None:  # mean of sums and of counts over the ranks: their ratio is the global mean
            sums, counts = average(sums), average(counts)
        return dict(zip(names, (sums / counts).tolist()))

    def reset(self) -> None:
        self.sums.clear()
        self.counts.clear()


def format_duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class ProgressLine:
    """One line, rewritten in place on a terminal (at most twice a second): kimg, sec/kimg, losses, ETA. Off a
    terminal it prints nothing; the per-tick lines carry the same figures."""

    def __init__(self, total_kimg: float, stream: TextIO = sys.stdout):
        self.total_kimg, self.stream = total_kimg, stream
        self.enabled = stream.isatty()
        self._last = 0.0
        self._width = 0

    def update(self, kimg: float, sec_per_kimg: Optional[float], values: Callable[[], Dict[str, float]],
               force: bool = False):
        """Redraws the line if it is due; `values` (the losses to show) is called only then: reading them waits
        for the device."""
        if not self.enabled or (not force and time.monotonic() - self._last < 0.5):
            return
        self._last = time.monotonic()
        frac = min(kimg / self.total_kimg, 1.0) if self.total_kimg > 0 else 1.0
        bar = "#" * int(frac * 20)
        parts = [f"[{bar:<20}] kimg {kimg:.2f}/{self.total_kimg:g}"]
        if sec_per_kimg:
            parts.append(f"{sec_per_kimg:.1f} s/kimg")
        parts += [f"{k} {v:.3f}" for k, v in values().items()]
        if sec_per_kimg:
            parts.append(f"ETA {format_duration((self.total_kimg - kimg) * sec_per_kimg)}")
        line = " | ".join(parts)
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


class Log:
    """Lines to the console and to <run_dir>/log.txt."""

    def __init__(self, path: Optional[Path], progress: Optional[ProgressLine] = None):
        self.file = open(path, "a", encoding="utf-8") if path is not None else None
        self.progress = progress

    def __call__(self, line: str) -> None:
        if self.progress is not None:
            self.progress.clear()
        print(line, flush=True)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class StatsWriter:
    """Per-tick statistics as JSON lines (<run_dir>/stats.jsonl) and TensorBoard scalars and images (event files in
    the run directory; x axis: images seen)."""

    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.jsonl = open(run_dir / "stats.jsonl", "a", encoding="utf-8")
        self.tensorboard = SummaryWriter(str(run_dir))

    def write(self, nimg: int, values: Dict[str, float]) -> None:
        self.jsonl.write(json.dumps({"nimg": nimg, "kimg": nimg / 1000, "timestamp": time.time(), **values}) + "\n")
        self.jsonl.flush()
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.tensorboard.add_scalar(name, value, global_step=nimg)
        self.tensorboard.flush()

    def image(self, name: str, grid: np.ndarray, nimg: int) -> None:
        self.tensorboard.add_image(name, grid, global_step=nimg, dataformats="HWC")

    def close(self) -> None:
        self.jsonl.close()
        self.tensorboard.close()
