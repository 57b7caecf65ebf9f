"""The ADA heuristic: tune the augmentation probability p so that D's overfitting stays at a target.

The overfitting measure is r_t = E[sign(D(x))] over augmented reals: near 0 when D generalizes, near 1 when it has
memorised the training set. Every ``interval`` steps, p moves by sign(r_t - target) x (images seen since the last
adjustment) / (kimg x 1000), so that p can rise from 0 to 1 in ``kimg`` thousand images, and never goes below 0.
"""

import math
import numbers
from typing import Callable, Dict, Optional

import torch

from .pipe import AugmentPipe


def _real(name: str, v, low: float, high: float = math.inf, low_inclusive: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not (math.isfinite(v) and (v >= low if low_inclusive else v > low) and v <= high):
        bound = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be in {bound}{low}, {high}], got {v}")
    return v


class AdaController:
    """Adjusts ``pipe.p`` from the signs of D's outputs on augmented reals.

    Per training step, call ``accumulate(real_logits)`` (any shape; only signs count; no host synchronization),
    then ``step(batch_size)`` with the images the step trained on across all ranks; every ``interval``-th step
    adjusts p and returns True. ``average`` (e.g. the mean over data-parallel ranks) receives the [sum, count] of the
    signs before the adjustment, so that every rank sees the global r_t and keeps the same p. state_dict and
    load_state_dict keep p, the accumulated signs and the step count across a resume.
    """

    def __init__(self, pipe: AugmentPipe, target: float = 0.6, interval: int = 4, kimg: float = 500,
                 average: Optional[Callable[[torch.Tensor], torch.Tensor]] = None):
        if not isinstance(pipe, AugmentPipe):
            raise ValueError(f"pipe must be an AugmentPipe, got {type(pipe).__name__}")
        if isinstance(interval, bool) or not isinstance(interval, numbers.Integral) or interval < 1:
            raise ValueError(f"interval must be an int >= 1, got {interval!r}")
        if average is not None and not callable(average):
            raise ValueError(f"average must be callable, got {type(average).__name__}")
        self.pipe = pipe
        self.target = _real("target", target, 0, 1)
        self.interval = int(interval)
        self.kimg = _real("kimg", kimg, 0, low_inclusive=False)
        self.average = average
        self.rt: Optional[float] = None  # r_t at the last adjustment
        self._signs = torch.zeros([2], dtype=torch.float64)  # the sum of the signs, their count
        self._steps = 0
        self._images = 0

    @property
    def p(self) -> float:
        return float(self.pipe.p)

    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Adds the signs of D's outputs on augmented real images."""
        if not isinstance(real_logits, torch.Tensor):
            raise ValueError(f"real_logits must be a tensor, got {type(real_logits).__name__}")
        signs = real_logits.detach().to(torch.float64).sign()
        counted = torch.stack([signs.sum(), signs.new_full([], float(signs.numel()))])
        self._signs = self._signs.to(signs.device) + counted  # kept where D runs, for the ranks' all-reduce

    def step(self, batch_size: int) -> bool:
        """Ends a training step of ``batch_size`` images (all ranks); adjusts p on every ``interval``-th call and
        then returns True. Without finite signs accumulated since the last adjustment, p stays as it is."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self._steps += 1
        self._images += int(batch_size)
        if self._steps < self.interval:
            return False
        signs = self.average(self._signs) if self.average is not None else self._signs
        total, count = signs.tolist()
        if count > 0 and math.isfinite(total):  # non-finite logits (a diverged D) leave p alone
            self.rt = total / count
            adjust = math.copysign(1, self.rt - self.target) if self.rt != self.target else 0
            p = max(self.p + adjust * self._images / (self.kimg * 1000), 0)
            self.pipe.p.copy_(torch.as_tensor(p))
        self._signs = torch.zeros_like(self._signs)
        self._steps = self._images = 0
        return True

    def state_dict(self) -> Dict[str, object]:
        """p, r_t, and the signs, steps and images accumulated since the last adjustment."""
        total, count = self._signs.tolist()
        return {"p": self.p, "rt": self.rt, "sign_sum": total, "sign_count": count, "steps": self._steps,
                "images": self._images}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restores what state_dict returned, setting ``pipe.p``."""
        keys = {"p", "rt", "sign_sum", "sign_count", "steps", "images"}
        if not isinstance(state, dict) or set(state) != keys:
            raise ValueError(f"state must be a dict with keys {sorted(keys)}, got "
                             f"{sorted(state) if isinstance(state, dict) else type(state).__name__}")
        p = _real("state['p']", state["p"], 0)
        self.rt = None if state["rt"] is None else _real("state['rt']", state["rt"], -1, 1)
        self._signs = torch.tensor([float(state["sign_sum"]), float(state["sign_count"])], dtype=torch.float64,
                                   device=self._signs.device)
        self._steps, self._images = int(state["steps"]), int(state["images"])
        self.pipe.p.copy_(torch.as_tensor(p))
