"""A small case of every kernel, forward and backward, for compute-sanitizer (tools/gpu_check.sh).

Each case runs one op through the fused path on small tensors: every bias_act mode, upfirdn2d's tiled
configurations (2-D, row and column passes) and its generic kernel, noise_bias_act, adain and style_epilogue
(statistics, apply and backward), in float32 and float16, NCHW and channels_last. Every result is compared with the
reference so that a case that computes garbage fails even where the sanitizer sees nothing.

    python tools/gpu_kernel_cases.py [--device cuda]
"""

import argparse
import sys

import torch

import stylegan_ops as ops


def outputs_and_grads(fn, impl, inputs, consts):
    """fn's first output, the gradients of its inputs, and the second-order gradients (through dy too, as R1)."""
    inputs = [t.detach().requires_grad_(True) for t in inputs]
    y = fn(impl, *inputs, *consts)
    first = y[0] if isinstance(y, tuple) else y
    dy = torch.full_like(first, 0.5).requires_grad_(True)
    grads = torch.autograd.grad(first, inputs, dy, create_graph=True)
    second = torch.autograd.grad(sum(g.square().sum() for g in grads), [*inputs, dy], allow_unused=True)
    return [first, *grads, *[s for s in second if s is not None]]


def cases(device):
    """(name, fn(impl, *inputs, *consts), inputs, consts): inputs are differentiated, consts are not."""
    gen = torch.Generator(device="cpu").manual_seed(0)

    def randn(*shape, dtype=torch.float32, channels_last=False):
        t = torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)
        return t.contiguous(memory_format=torch.channels_last) if channels_last else t

    out = []
    for dtype in (torch.float32, torch.float16):
        for cl in (False, True):
            tag = f"{str(dtype).split('.')[-1]}-{'nhwc' if cl else 'nchw'}"
            x, b = randn(2, 8, 12, 12, dtype=dtype, channels_last=cl), randn(8, dtype=dtype)
            noise, strength = randn(2, 1, 12, 12, dtype=dtype), randn(8, dtype=dtype)
            scale, bias = randn(2, 8, dtype=dtype), randn(2, 8, dtype=dtype)
            # No clamp in float16: an output that rounds onto the bound is clamped for the backward from the output.
            clamp = 2.0 if dtype == torch.float32 else None
            for act in ("lrelu", "swish"):
                out.append((f"bias_act-{act}-{tag}", lambda impl, x, b, act=act, c=clamp: ops.bias_act(
                    x, b, act=act, clamp=c, impl=impl), [x, b], []))
            out.append((f"noise_bias_act-{tag}", lambda impl, x, s, b, n, c=clamp: ops.noise_bias_act(
                x, n, s, b, act="lrelu", clamp=c, impl=impl), [x, strength, b], [noise]))
            out.append((f"adain-{tag}", lambda impl, x, s, c: ops.adain(x, s, c, impl=impl), [x, scale, bias], []))
            out.append((f"style_epilogue-{tag}", lambda impl, x, s, c, n, w, b: ops.style_epilogue(
                x, n, w, b, s, c, impl=impl), [x, scale, bias], [noise, strength, b]))
            for name, f, kwargs in (("up2-4tap", [1, 3, 3, 1], dict(up=2, padding=(2, 1, 2, 1))),
                                    ("down2-4tap", [1, 3, 3, 1], dict(down=2, padding=1)),
                                    ("sep-8tap", [1, 2, 3, 4, 4, 3, 2, 1], dict(padding=(4, 3, 4, 3))),
                                    ("generic-up3", [1, 3, 3, 1], dict(up=3, padding=2))):
                out.append((f"upfirdn2d-{name}-{tag}", lambda impl, x, f, kwargs=kwargs: ops.upfirdn2d(
                    x, f, impl=impl, **kwargs), [x], [ops.setup_filter(f, device=device)]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    failed = []
    all_cases = cases(args.device)
    for name, fn, inputs, consts in all_cases:
        fused = outputs_and_grads(fn, "fused", inputs, consts)
        # The reference in float64 on the same (rounded) values, so that float16 is judged on its own rounding.
        ref = outputs_and_grads(fn, "ref", [t.double() for t in inputs], [t.double() for t in consts])
        for a, r in zip(fused, ref):
            tol = dict(atol=2e-2, rtol=2e-2) if a.dtype == torch.float16 else dict(atol=1e-4, rtol=1e-4)
            if a.shape != r.shape or not torch.allclose(a.float(), r.to(a.dtype).float(), equal_nan=True, **tol):
                failed.append(name)
                break
    if args.device == "cuda":
        torch.cuda.synchronize()
    print(f"gpu_kernel_cases: {len(all_cases) - len(failed)} of {len(all_cases)} cases match the reference on "
          f"{args.device}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
