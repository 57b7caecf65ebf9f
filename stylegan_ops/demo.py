"""`python -m stylegan_ops.demo`: a short tour of the ops on StyleGAN-sized tensors. For each op it runs the fused
kernel and the reference path, checks that they agree and prints both times. (Training comes with stylegan.train.)"""

import argparse
import time

import torch

from . import bias_act, downsample2d, noise_bias_act, setup_filter, style_epilogue, upsample2d
from .info import report


def timed(fn, device, repeats=5):
    """The result of fn() and its best wall time over `repeats` runs, in milliseconds."""
    best, out = float("inf"), None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return out, best * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(report())
    print(f"\nrunning on {device}:")

    torch.manual_seed(0)
    x = torch.randn(8, 256, 64, 64, device=device)
    b = torch.randn(256, device=device)
    f = setup_filter([1, 3, 3, 1], device=device)
    noise = torch.randn(8, 1, 64, 64, device=device)
    strength, styles = torch.tensor(0.1, device=device), torch.randn(8, 256, device=device)
    cases = {
        "bias_act lrelu, clamp 256 ": lambda impl: bias_act(x, b, act="lrelu", clamp=256, impl=impl),
        "upsample2d [1,3,3,1]      ": lambda impl: upsample2d(x, f, impl=impl),
        "downsample2d [1,3,3,1]    ": lambda impl: downsample2d(x, f, impl=impl),
        "noise_bias_act (StyleGAN2)": lambda impl: noise_bias_act(x, noise, strength, b, clamp=256, impl=impl),
        "style_epilogue (StyleGAN) ": lambda impl: style_epilogue(x, noise, b, b, 1 + styles, styles, impl=impl),
    }
    print(f"  {'op on 8x256x64x64':<26} {'fused ms':>9} {'ref ms':>9} {'speed-up':>9} {'max |fused - ref|':>18}")
    for name, run in cases.items():
        fused, t_fused = timed(lambda: run("auto"), device)
        ref, t_ref = timed(lambda: run("ref"), device)
        err = (fused - ref).abs().max().item()
        print(f"  {name:<26} {t_fused:>9.2f} {t_ref:>9.2f} {t_ref / t_fused:>8.1f}x {err:>18.2e}")


if __name__ == "__main__":
    main()
