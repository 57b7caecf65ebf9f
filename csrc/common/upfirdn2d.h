// upfirdn2d: the plain parameter block of one filtering pass, shared by the CPU and CUDA kernels.
//
// One pass computes, for every plane (n, c),
//   y[oy, ox] = sum_{ty, tx} g[ty, tx] * u[oy * down_y + ty - pad_y0, ox * down_x + tx - pad_x0]
// where u is x upsampled by inserting up-1 zeros after each pixel (u[i * up] = x[i], zero elsewhere and outside x)
// and g is the filter in correlation order: g[ty, tx] = gain * f[fh-1-ty, fw-1-tx], or gain * f[ty, tx] when
// flip_filter is set. A separable (1-D) filter runs as two passes, one with filter_h == 1 and one with filter_w == 1.
#pragma once

#include <stdint.h>

#include "dtype.h"
#include "host_device.h"

namespace stylegan_ops {

struct Upfirdn2dParams {
    const void* x;
    const void* f;        // filter_h x filter_w, contiguous, in the accumulation type (float, or double for double x)
    void* y;
    int64_t batch, channels;
    int64_t x_stride[4];  // n, c, h, w, in elements
    int64_t y_stride[4];
    int in_h, in_w, out_h, out_w;
    int up_x, up_y, down_x, down_y;
    int pad_x0, pad_y0;   // the far-side padding follows from the output size
    int filter_h, filter_w;
    bool flip_filter;
    double gain;
    bool channels_last;   // x and y are channels_last: kernels walk channels innermost
    DType dtype;
};

// Correlation tap (ty, tx) of the filter f (row-major, filter_h x filter_w), scaled by the gain.
template <typename S>
SG_HD S upfirdn2d_tap(const S* f, int ty, int tx, int filter_h, int filter_w, bool flip_filter, S gain) {
    int fy = flip_filter ? ty : filter_h - 1 - ty;
    int fx = flip_filter ? tx : filter_w - 1 - tx;
    return gain * f[fy * filter_w + fx];
}

// Output positions o = 0..n-1 along one axis read u[o * down + t - pad]; for output o, the first filter tap that
// lands on an input pixel (not an inserted zero) and that pixel's index. Later taps step by `up`, pixels by one.
struct FirstTap {
    int tap;
    int pixel;
};

SG_HD FirstTap first_tap(int o, int up, int down, int pad) {
    int u0 = o * down - pad;
    int tap = floor_mod(-u0, up);
    return FirstTap{tap, (u0 + tap) / up};  // u0 + tap is a multiple of up
}

}  // namespace stylegan_ops
