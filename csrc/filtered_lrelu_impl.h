// filtered_lrelu for any device: argument checks, output and sign-buffer shapes, the parameter block.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <tuple>

#include "common/filtered_lrelu.h"
#include "layout.h"

namespace stylegan_ops {

using FilteredLreluRunner = void (*)(const FilteredLreluParams&);

namespace filtered_lrelu_detail {

// (height, width) of a filter: a 1-D filter is separable, as tall as it is wide.
inline std::pair<int64_t, int64_t> filter_hw(const at::Tensor& f) {
    return {f.size(0), f.size(-1)};
}

inline void check_filter(const at::Tensor& f, const at::Tensor& x, const char* op, const char* name) {
    TORCH_CHECK_VALUE(f.dim() == 1 || f.dim() == 2, op, ": ", name, " must be 1-D or 2-D, got shape ", f.sizes());
    TORCH_CHECK_TYPE(f.is_floating_point(), op, ": ", name, " must be a floating-point tensor, got ", f.scalar_type());
    TORCH_CHECK_VALUE(f.numel() > 0, op, ": ", name, " must not be empty");
    TORCH_CHECK_VALUE(f.device() == x.device(), op, ": ", name, " must be on the device of x (", x.device(),
                      "), got ", f.device());
}

struct Geometry {
    int64_t buffer_h, buffer_w, out_h, out_w;
};

inline Geometry geometry(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd, int64_t up, int64_t down,
                         at::IntArrayRef padding, const char* op) {
    TORCH_CHECK_VALUE(padding.size() == 4, op, ": padding takes 4 values (x0, x1, y0, y1), got ", padding);
    TORCH_CHECK_VALUE(up >= 1 && down >= 1, op, ": up and down must be positive, got ", up, " and ", down);
    const auto [fu_h, fu_w] = filter_hw(fu);
    const auto [fd_h, fd_w] = filter_hw(fd);
    for (int64_t v : {up, down, padding[0], padding[1], padding[2], padding[3], fu_h, fu_w, fd_h, fd_w}) {
        TORCH_CHECK_VALUE(std::abs(v) < (1 << 20), op, ": up, down, padding and filter sizes must be below 2^20");
    }
    TORCH_CHECK_VALUE(x.size(2) * up < (1 << 30) && x.size(3) * up < (1 << 30), op,
                      ": the upsampled image is too large for the kernels' 32-bit indexing");
    Geometry g{};
    g.buffer_h = filtered_lrelu_buffer_size(x.size(2), up, padding[2], padding[3], fu_h);
    g.buffer_w = filtered_lrelu_buffer_size(x.size(3), up, padding[0], padding[1], fu_w);
    g.out_h = filtered_lrelu_out_size(g.buffer_h, down, fd_h);
    g.out_w = filtered_lrelu_out_size(g.buffer_w, down, fd_w);
    TORCH_CHECK_VALUE(g.out_h > 0 && g.out_w > 0, op, ": padding ", padding, " leaves no output for x of shape ",
                      x.sizes(), ", up=", up, ", down=", down, " and these filters");
    return g;
}

inline FilteredLreluParams make_params(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
                                       const at::Tensor& y, int64_t up, int64_t down, at::IntArrayRef padding,
                                       bool flip_filter, double gain, double slope, double clamp) {
    FilteredLreluParams p{};
    p.x = x.const_data_ptr();
    p.fu = fu.const_data_ptr();
    p.fd = fd.const_data_ptr();
    p.y = y.mutable_data_ptr();
    p.batch = x.size(0);
    p.channels = x.size(1);
    for (int d = 0; d < 4; ++d) {
        p.x_stride[d] = x.stride(d);
        p.y_stride[d] = y.stride(d);
    }
    p.in_h = int(x.size(2));
    p.in_w = int(x.size(3));
    p.out_h = int(y.size(2));
    p.out_w = int(y.size(3));
    p.up = int(up);
    p.down = int(down);
    p.pad_x0 = int(padding[0]);
    p.pad_y0 = int(padding[2]);
    std::tie(p.fu_h, p.fu_w) = filter_hw(fu);
    std::tie(p.fd_h, p.fd_w) = filter_hw(fd);
    p.fu_separable = fu.dim() == 1;
    p.fd_separable = fd.dim() == 1;
    p.flip_filter = flip_filter;
    p.gain = gain;
    p.slope = slope;
    p.clamp = clamp;
    p.dtype = dtype_of(x);
    return p;
}

inline void check_common(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd, double gain, double slope,
                         const char* op) {
    check_float_tensor(x, op, "x");
    TORCH_CHECK_VALUE(x.dim() == 4, op, ": x must be 4-D [N, C, H, W], got shape ", x.sizes());
    check_filter(fu, x, op, "fu");
    check_filter(fd, x, op, "fd");
    TORCH_CHECK_VALUE(std::isfinite(gain) && gain > 0, op, ": gain must be finite and positive, got ", gain);
    TORCH_CHECK_VALUE(std::isfinite(slope) && slope >= 0, op, ": slope must be finite and >= 0, got ", slope);
}

}  // namespace filtered_lrelu_detail

// (y, signs): the op; signs is [N, C, buffer_h, ceil(buffer_w / 4)] uint8 when write_signs, else empty.
inline std::tuple<at::Tensor, at::Tensor> filtered_lrelu_forward(
    const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd, const c10::optional<at::Tensor>& b, int64_t up,
    int64_t down, at::IntArrayRef padding, double gain, double slope, c10::optional<double> clamp, bool flip_filter,
    bool write_signs, FilteredLreluRunner run) {
    using namespace filtered_lrelu_detail;
    const char* op = "filtered_lrelu";
    check_common(x, fu, fd, gain, slope, op);
    TORCH_CHECK_VALUE(!clamp.has_value() || (std::isfinite(*clamp) && *clamp >= 0), op,
                      ": clamp must be finite and >= 0 (or None), got ", clamp.value_or(0));
    if (b.has_value()) {
        TORCH_CHECK_VALUE(b->dim() == 1 && b->size(0) == x.size(1), op, ": b must have shape [", x.size(1),
                          "] (one value per channel), got ", b->sizes());
        TORCH_CHECK_TYPE(b->scalar_type() == x.scalar_type(), op, ": b must have the dtype of x (", x.scalar_type(),
                         "), got ", b->scalar_type());
        TORCH_CHECK_VALUE(b->device() == x.device(), op, ": b must be on the device of x");
    }
    const Geometry g = geometry(x, fu, fd, up, down, padding, op);
    at::Tensor y = at::empty({x.size(0), x.size(1), g.out_h, g.out_w}, x.options().memory_format(output_memory_format(x)));
    const int64_t row_bytes = (g.buffer_w + 3) / 4;
    at::Tensor signs = write_signs ? at::zeros({x.size(0), x.size(1), g.buffer_h, row_bytes}, x.options().dtype(at::kByte))
                                   : at::empty({0}, x.options().dtype(at::kByte));
    if (y.numel() == 0) return {y, signs};
    const at::ScalarType acc = accumulation_type(x);
    const at::Tensor fu_acc = fu.to(acc).contiguous(), fd_acc = fd.to(acc).contiguous();
    const at::Tensor b_contig = b.has_value() ? b->contiguous() : at::Tensor();
    FilteredLreluParams p = make_params(x, fu_acc, fd_acc, y, up, down, padding, flip_filter, gain, slope,
                                        clamp.has_value() ? *clamp : -1.0);
    p.b = b.has_value() ? b_contig.const_data_ptr() : nullptr;
    p.sign_mode = write_signs ? SignMode::kWriteSigns : SignMode::kNoSigns;
    p.signs = write_signs ? signs.mutable_data_ptr<uint8_t>() : nullptr;
    p.sign_h = int(g.buffer_h);
    p.sign_w = int(g.buffer_w);
    p.sign_row_bytes = int(row_bytes);
    run(p);
    return {y, signs};
}

// The linear op the gradients are made of: the pipeline with the activation replaced by the derivative the forward's
// activation had, read from signs ([N, C, sign_h, row_bytes]) at (i + sign_offset[1], j + sign_offset[0]).
inline at::Tensor filtered_lrelu_signed_forward(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
                                                const at::Tensor& signs, int64_t up, int64_t down,
                                                at::IntArrayRef padding, double gain, double slope, bool flip_filter,
                                                at::IntArrayRef sign_offset, FilteredLreluRunner run) {
    using namespace filtered_lrelu_detail;
    const char* op = "filtered_lrelu_signed";
    check_common(x, fu, fd, gain, slope, op);
    TORCH_CHECK_TYPE(signs.scalar_type() == at::kByte, op, ": signs must be uint8, got ", signs.scalar_type());
    TORCH_CHECK_VALUE(signs.dim() == 4 && signs.size(0) == x.size(0) && signs.size(1) == x.size(1), op,
                      ": signs must be [N, C, H, W / 4] with the N and C of x (", x.sizes(), "), got ", signs.sizes());
    TORCH_CHECK_VALUE(signs.device() == x.device(), op, ": signs must be on the device of x");
    TORCH_CHECK_VALUE(sign_offset.size() == 2, op, ": sign_offset takes 2 values (x, y), got ", sign_offset);
    TORCH_CHECK_VALUE(signs.size(2) < (1 << 30) && signs.size(3) < (1 << 28) && std::abs(sign_offset[0]) < (1 << 30) &&
                          std::abs(sign_offset[1]) < (1 << 30),
                      op, ": signs and sign_offset must fit the kernels' 32-bit indexing");
    const Geometry g = geometry(x, fu, fd, up, down, padding, op);
    at::Tensor y = at::empty({x.size(0), x.size(1), g.out_h, g.out_w}, x.options().memory_format(output_memory_format(x)));
    if (y.numel() == 0) return y;
    const at::ScalarType acc = accumulation_type(x);
    const at::Tensor fu_acc = fu.to(acc).contiguous(), fd_acc = fd.to(acc).contiguous();
    const at::Tensor signs_contig = signs.contiguous();
    FilteredLreluParams p = make_params(x, fu_acc, fd_acc, y, up, down, padding, flip_filter, gain, slope, -1.0);
    p.sign_mode = SignMode::kReadSigns;
    p.signs = const_cast<uint8_t*>(signs_contig.const_data_ptr<uint8_t>());
    p.sign_h = int(signs.size(2));
    p.sign_row_bytes = int(signs.size(3));
    p.sign_w = p.sign_row_bytes * 4;
    p.sign_x0 = int(sign_offset[0]);
    p.sign_y0 = int(sign_offset[1]);
    run(p);
    return y;
}

// The registered ops of one device, bound to that device's runner and device guard.
template <FilteredLreluRunner Run, typename Guard>
struct FilteredLreluOps {
    static std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
                                                      const c10::optional<at::Tensor>& b, int64_t up, int64_t down,
                                                      at::IntArrayRef padding, double gain, double slope,
                                                      c10::optional<double> clamp, bool flip_filter, bool write_signs) {
        const Guard guard(x.device());
        return filtered_lrelu_forward(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, write_signs,
                                      Run);
    }

    static at::Tensor signed_forward(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
                                     const at::Tensor& signs, int64_t up, int64_t down, at::IntArrayRef padding,
                                     double gain, double slope, bool flip_filter, at::IntArrayRef sign_offset) {
        const Guard guard(x.device());
        return filtered_lrelu_signed_forward(x, fu, fd, signs, up, down, padding, gain, slope, flip_filter,
                                             sign_offset, Run);
    }
};

}  // namespace stylegan_ops
