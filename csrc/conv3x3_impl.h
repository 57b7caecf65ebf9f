// conv3x3 and conv3x3_weight_grad for any device: argument checks and output allocation.
#pragma once

#include <ATen/ATen.h>

#include "layout.h"

namespace stylegan_ops {

// x [N, C, H, W] and the weight w [K, C, 3, 3] (or the gradient [N, K, H, W] of conv3x3's output): 4-D, one dtype,
// one device. (The Python API checks the same, with its own messages, before the reference path:
// stylegan_ops/conv3x3.py.)
inline void check_conv3x3_pair(const char* op, const at::Tensor& x, const char* other_name, const at::Tensor& other) {
    check_float_tensor(x, op, "x");
    TORCH_CHECK_VALUE(x.dim() == 4, op, ": x must be 4-D [N, C, H, W], got shape ", x.sizes());
    TORCH_CHECK_TYPE(other.scalar_type() == x.scalar_type(), op, ": ", other_name, " must have the dtype of x (",
                     x.scalar_type(), "), got ", other.scalar_type());
    TORCH_CHECK_VALUE(other.device() == x.device(), op, ": ", other_name, " must be on the device of x (", x.device(),
                      "), got ", other.device());
    TORCH_CHECK_VALUE(other.dim() == 4, op, ": ", other_name, " must be 4-D, got shape ", other.sizes());
}

inline void check_conv3x3(const at::Tensor& x, const at::Tensor& w) {
    check_conv3x3_pair("conv3x3", x, "w", w);
    TORCH_CHECK_VALUE(w.size(1) == x.size(1) && w.size(2) == 3 && w.size(3) == 3, "conv3x3: w must have shape [K, ",
                      x.size(1), ", 3, 3], got ", w.sizes());
}

inline void check_conv3x3_weight_grad(const at::Tensor& grad, const at::Tensor& x) {
    check_conv3x3_pair("conv3x3_weight_grad", x, "grad", grad);
    TORCH_CHECK_VALUE(grad.size(0) == x.size(0) && grad.size(2) == x.size(2) && grad.size(3) == x.size(3),
                      "conv3x3_weight_grad: grad must have shape [", x.size(0), ", K, ", x.size(2), ", ", x.size(3),
                      "], got ", grad.sizes());
}

// conv3x3's output for x and w: [N, K, H, W] in x's memory format (output_memory_format).
inline at::Tensor conv3x3_output(const at::Tensor& x, const at::Tensor& w) {
    return at::empty({x.size(0), w.size(0), x.size(2), x.size(3)}, x.options().memory_format(output_memory_format(x)));
}

}  // namespace stylegan_ops
