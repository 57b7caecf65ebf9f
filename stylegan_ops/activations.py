"""The activation functions of bias_act: their PyTorch definition and default parameters."""

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Activation:
    """One activation: `fn(x, alpha)`, its default alpha (None: takes no alpha) and gain, and whether its
    derivative follows from its output (piecewise linear), which lets autograd keep y instead of x."""

    fn: Callable[[torch.Tensor, Optional[float]], torch.Tensor]
    default_alpha: Optional[float]
    default_gain: float
    grad_from_output: bool


# The kernels know the same names (parse_act in csrc/bias_act_impl.h) and which of them differentiate from the output
# (act_grad_from_output in csrc/common/bias_act.h).
ACTIVATIONS = {
    "linear": Activation(lambda x, alpha: x, None, 1.0, True),
    "relu": Activation(lambda x, alpha: F.relu(x), None, math.sqrt(2), True),
    "lrelu": Activation(lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2), True),
    "tanh": Activation(lambda x, alpha: torch.tanh(x), None, 1.0, False),
    "sigmoid": Activation(lambda x, alpha: torch.sigmoid(x), None, 1.0, False),
    "elu": Activation(lambda x, alpha: F.elu(x), None, 1.0, False),
    "selu": Activation(lambda x, alpha: F.selu(x), None, 1.0, False),
    "softplus": Activation(lambda x, alpha: F.softplus(x), None, 1.0, False),
    "swish": Activation(lambda x, alpha: torch.sigmoid(x) * x, None, math.sqrt(2), False),
}
