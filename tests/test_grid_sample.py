"""stylegan.augment.grid_sample: torch's bilinear grid_sample, with gradients of any order with respect to the image."""

import pytest
import torch
import torch.nn.functional as F

from stylegan.augment import grid_sample

from conftest import DEVICES


def _inputs(device, dtype, n=2, c=3, h=5, w=6, ho=4, wo=7):
    image = torch.randn(n, c, h, w, device=device, dtype=dtype)
    grid = (torch.rand(n, ho, wo, 2, device=device, dtype=torch.float64) * 2.6 - 1.3).to(dtype)  # some outside
    return image, grid


def _torch(image, grid):
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("device", DEVICES)
def test_matches_torch_values_and_gradient(device, dtype):
    image, grid = _inputs(device, dtype)
    image.requires_grad_(True)
    out = grid_sample(image, grid)
    assert out.shape == (2, 3, 4, 7) and out.dtype == dtype
    assert torch.equal(out, _torch(image, grid))
    w = torch.randn_like(out)
    ours, = torch.autograd.grad((out * w).sum(), image)
    theirs, = torch.autograd.grad((_torch(image, grid) * w).sum(), image)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_and_gradgradcheck(device):
    image, grid = _inputs(device, torch.float64)
    image.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: grid_sample(x, grid), (image,))
    assert torch.autograd.gradgradcheck(lambda x: grid_sample(x, grid), (image,))


def test_backward_of_backward_is_the_sampling_again():
    """The gradient is linear in the output gradient g; differentiating it with respect to g samples again: any
    order of derivative exists."""
    image, grid = _inputs("cpu", torch.float64)
    image.requires_grad_(True)
    g = torch.randn(2, 3, 4, 7, dtype=torch.float64, requires_grad=True)
    grad_image, = torch.autograd.grad((grid_sample(image, grid) * g).sum(), image, create_graph=True)
    v = torch.randn_like(grad_image, requires_grad=True)
    grad_g, = torch.autograd.grad((grad_image * v).sum(), g, create_graph=True)
    torch.testing.assert_close(grad_g, _torch(v, grid))
    grad_v, = torch.autograd.grad((grad_g * g).sum(), v)  # third order
    torch.testing.assert_close(grad_v, grad_image.detach())


def test_opcheck():
    image, grid = _inputs("cpu", torch.float32)
    image.requires_grad_(True)
    torch.library.opcheck(torch.ops.stylegan_augment.grid_sample.default, (image, grid))
    grad = torch.randn(2, 3, 4, 7, requires_grad=True)
    torch.library.opcheck(torch.ops.stylegan_augment.grid_sample_adjoint.default, (grad, grid, 5, 6))


def test_bad_input():
    image, grid = _inputs("cpu", torch.float32)
    with pytest.raises(ValueError, match="grid requires grad"):
        grid_sample(image, grid.clone().requires_grad_(True))
    with pytest.raises(ValueError, match="image"):
        grid_sample(image[0], grid)
    with pytest.raises(ValueError, match="grid"):
        grid_sample(image, grid[:1])
    with pytest.raises(ValueError, match="grid must match image"):
        grid_sample(image, grid.double())
