"""Bilinear grid sampling whose gradient with respect to the image is differentiable to any order.

Sampling an image at fixed points is linear in the image, so its gradient is the adjoint (transpose) of the same
sampling, and the adjoint's gradient is the sampling again. Two custom ops, ``stylegan_augment::grid_sample`` and
``stylegan_augment::grid_sample_adjoint``, use each other as their backward, which gives gradients of every order
(R1 through the augmentation needs the second). torch's own ``grid_sample`` has a double backward only in recent
releases; these ops run torch's kernels, so the values match ``F.grid_sample`` bit for bit on every torch >= 2.4.
"""

import torch
import torch.nn.functional as F

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@torch.library.custom_op("stylegan_augment::grid_sample", mutates_args=())
def _sample(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.library.custom_op("stylegan_augment::grid_sample_adjoint", mutates_args=())
def _sample_adjoint(grad: torch.Tensor, grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    # The kernel reads the image only for the gradient with respect to the grid, which is not asked for here: a
    # broadcast zero stands in for it and costs no memory.
    image = grad.new_zeros(()).expand(grad.shape[0], grad.shape[1], height, width)
    return torch.ops.aten.grid_sampler_2d_backward(grad, image, grid, 0, 0, False, [True, False])[0]


@_sample.register_fake
def _sample_fake(image, grid):
    return image.new_empty([image.shape[0], image.shape[1], grid.shape[1], grid.shape[2]])


@_sample_adjoint.register_fake
def _sample_adjoint_fake(grad, grid, height, width):
    return grad.new_empty([grad.shape[0], grad.shape[1], height, width])


def _sample_setup(ctx, inputs, output):
    image, grid = inputs
    ctx.save_for_backward(grid)
    ctx.size = (image.shape[2], image.shape[3])


def _sample_backward(ctx, grad):
    (grid,) = ctx.saved_tensors
    return torch.ops.stylegan_augment.grid_sample_adjoint(grad, grid, *ctx.size), None


def _adjoint_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[1])


def _adjoint_backward(ctx, grad):
    (grid,) = ctx.saved_tensors
    return torch.ops.stylegan_augment.grid_sample(grad, grid), None, None, None


_sample.register_autograd(_sample_backward, setup_context=_sample_setup)
_sample_adjoint.register_autograd(_adjoint_backward, setup_context=_adjoint_setup)


def grid_sample(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Samples ``image`` ([N, C, H, W]) bilinearly at ``grid`` ([N, Ho, Wo, 2], x then y, -1 and 1 the outer edges
    of the border pixels), zero outside: ``F.grid_sample(image, grid, 'bilinear', 'zeros', align_corners=False)``.

    Differentiable to any order with respect to ``image``; the grid gets no gradient, so it must not require one.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.dtype not in _FLOATS:
        raise ValueError(f"grid_sample: image must be a 4-D floating-point tensor, got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    if not isinstance(grid, torch.Tensor) or grid.ndim != 4 or grid.shape[0] != image.shape[0] or grid.shape[3] != 2:
        raise ValueError(f"grid_sample: grid must be [N, Ho, Wo, 2] with N = {image.shape[0]}, got "
                         f"{getattr(grid, 'shape', type(grid).__name__)}")
    if grid.dtype != image.dtype or grid.device != image.device:
        raise ValueError(f"grid_sample: grid must match image in dtype and device, got {grid.dtype} on {grid.device} "
                         f"for {image.dtype} on {image.device}")
    if grid.requires_grad and torch.is_grad_enabled():
        raise ValueError("grid_sample: grid requires grad, but no gradient with respect to the grid is computed; "
                         "pass grid.detach()")
    return torch.ops.stylegan_augment.grid_sample(image, grid)
