// upfirdn2d for any device: argument checks, output shape and layout, and the one or two filtering passes that the
// device's kernel runs.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "common/upfirdn2d.h"
#include "layout.h"

namespace stylegan_ops {

using Upfirdn2dRunner = void (*)(const Upfirdn2dParams&);

// Output length along one axis: (in * up + pad0 + pad1 - taps) // down + 1.
inline int64_t upfirdn2d_out_size(int64_t in, int64_t up, int64_t down, int64_t pad0, int64_t pad1, int64_t taps) {
    int64_t span = in * up + pad0 + pad1 - taps;
    return span < 0 ? 0 : span / down + 1;
}

// One pass over the planes of x with a filter_h x filter_w filter (f, already in the accumulation type), writing an
// output in `format`. Sizes have been checked to fit the kernels' 32-bit per-axis arithmetic.
inline at::Tensor upfirdn2d_pass(const at::Tensor& x, const at::Tensor& f, int filter_h, int filter_w, int up_x,
                                 int up_y, int down_x, int down_y, int pad_x0, int pad_x1, int pad_y0, int pad_y1,
                                 bool flip_filter, double gain, at::MemoryFormat format, Upfirdn2dRunner run) {
    const int64_t out_h = upfirdn2d_out_size(x.size(2), up_y, down_y, pad_y0, pad_y1, filter_h);
    const int64_t out_w = upfirdn2d_out_size(x.size(3), up_x, down_x, pad_x0, pad_x1, filter_w);
    at::Tensor y = at::empty({x.size(0), x.size(1), out_h, out_w}, x.options().memory_format(format));
    if (y.numel() == 0) return y;
    // The kernels take any strides: x as it is (channels-last kernels only ever see a channels_last x).
    Upfirdn2dParams p{};
    p.x = x.const_data_ptr();
    p.f = f.const_data_ptr();
    p.y = y.mutable_data_ptr();
    p.batch = x.size(0);
    p.channels = x.size(1);
    for (int d = 0; d < 4; ++d) {
        p.x_stride[d] = x.stride(d);
        p.y_stride[d] = y.stride(d);
    }
    p.in_h = static_cast<int>(x.size(2));
    p.in_w = static_cast<int>(x.size(3));
    p.out_h = static_cast<int>(out_h);
    p.out_w = static_cast<int>(out_w);
    p.up_x = up_x;
    p.up_y = up_y;
    p.down_x = down_x;
    p.down_y = down_y;
    p.pad_x0 = pad_x0;
    p.pad_y0 = pad_y0;
    p.filter_h = filter_h;
    p.filter_w = filter_w;
    p.flip_filter = flip_filter;
    p.gain = gain;
    p.channels_last = format == at::MemoryFormat::ChannelsLast;
    p.dtype = dtype_of(x);
    run(p);
    return y;
}

// The kernels index each axis in 32-bit arithmetic, positions in the upsampled and padded signal included.
inline void check_axis_fits(int64_t in, int64_t up, int64_t down, int64_t pad0, int64_t pad1, int64_t taps,
                            const char* axis) {
    const int64_t extent = in * up + 2 * (std::abs(pad0) + std::abs(pad1)) + taps + down;
    TORCH_CHECK_VALUE(up <= INT32_MAX && down <= INT32_MAX && std::abs(pad0) <= INT32_MAX &&
                          std::abs(pad1) <= INT32_MAX && extent < INT32_MAX,
                      "upfirdn2d: along ", axis, ", the upsampled and padded signal (", in, " x up ", up,
                      " with padding ", pad0, ", ", pad1, ") is too large for the kernels' 32-bit indexing");
}

inline at::Tensor upfirdn2d_forward(const at::Tensor& x, const at::Tensor& f, at::IntArrayRef up,
                                    at::IntArrayRef down, at::IntArrayRef padding, bool flip_filter, double gain,
                                    Upfirdn2dRunner run) {
    check_float_tensor(x, "upfirdn2d", "x");
    TORCH_CHECK_VALUE(x.dim() == 4, "upfirdn2d: x must be 4-D [N, C, H, W], got shape ", x.sizes());
    TORCH_CHECK_VALUE(f.dim() == 1 || f.dim() == 2, "upfirdn2d: f must be 1-D or 2-D, got shape ", f.sizes());
    TORCH_CHECK_TYPE(f.is_floating_point(), "upfirdn2d: f must be a floating-point tensor, got ", f.scalar_type());
    TORCH_CHECK_VALUE(f.numel() > 0, "upfirdn2d: f must not be empty");
    TORCH_CHECK_VALUE(f.device() == x.device(), "upfirdn2d: f must be on the device of x (", x.device(), "), got ",
                      f.device());
    TORCH_CHECK_VALUE(up.size() == 2 && down.size() == 2 && padding.size() == 4,
                      "upfirdn2d: up and down take 2 values (x, y), padding 4 (x0, x1, y0, y1)");
    TORCH_CHECK_VALUE(up[0] >= 1 && up[1] >= 1, "upfirdn2d: up must be positive, got ", up);
    TORCH_CHECK_VALUE(down[0] >= 1 && down[1] >= 1, "upfirdn2d: down must be positive, got ", down);
    TORCH_CHECK_VALUE(std::isfinite(gain), "upfirdn2d: gain must be finite, got ", gain);
    const int64_t fw = f.size(-1);
    const int64_t fh = f.dim() == 2 ? f.size(0) : fw;
    check_axis_fits(x.size(3), up[0], down[0], padding[0], padding[1], fw, "W");
    check_axis_fits(x.size(2), up[1], down[1], padding[2], padding[3], fh, "H");
    const int64_t out_h = upfirdn2d_out_size(x.size(2), up[1], down[1], padding[2], padding[3], fh);
    const int64_t out_w = upfirdn2d_out_size(x.size(3), up[0], down[0], padding[0], padding[1], fw);
    TORCH_CHECK_VALUE(out_h > 0 && out_w > 0, "upfirdn2d: padding ", padding, " leaves no output for x of shape ",
                      x.sizes(), " and a ", fh, "x", fw, " filter");
    const int up_x = int(up[0]), up_y = int(up[1]), down_x = int(down[0]), down_y = int(down[1]);
    const int px0 = int(padding[0]), px1 = int(padding[1]), py0 = int(padding[2]), py1 = int(padding[3]);

    const at::MemoryFormat format = output_memory_format(x);
    const at::Tensor taps = f.to(accumulation_type(x)).contiguous();
    if (f.dim() == 2) {
        return upfirdn2d_pass(x, taps, int(fh), int(fw), up_x, up_y, down_x, down_y, px0, px1, py0, py1, flip_filter,
                              gain, format, run);
    }
    // Separable: rows, then columns, both in the output's format. The gain goes with the row pass, as in the
    // reference, so that a half-precision intermediate overflows (or not) exactly where the reference does.
    const at::Tensor rows = upfirdn2d_pass(x, taps, 1, int(fw), up_x, 1, down_x, 1, px0, px1, 0, 0, flip_filter, gain,
                                           format, run);
    return upfirdn2d_pass(rows, taps, int(fh), 1, 1, up_y, 1, down_y, 0, 0, py0, py1, flip_filter, 1.0, format, run);
}

// The registered op of one device, bound to that device's runner and device guard.
template <Upfirdn2dRunner Run, typename Guard>
struct Upfirdn2dOps {
    static at::Tensor forward(const at::Tensor& x, const at::Tensor& f, at::IntArrayRef up, at::IntArrayRef down,
                              at::IntArrayRef padding, bool flip_filter, double gain) {
        const Guard guard(x.device());
        return upfirdn2d_forward(x, f, up, down, padding, flip_filter, gain, Run);
    }
};

}  // namespace stylegan_ops
