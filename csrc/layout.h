// Tensor checks and memory-layout helpers shared by the ops' device-independent code.
#pragma once

#include <ATen/ATen.h>

#include "common/dtype.h"

namespace stylegan_ops {

// Device guard of the CPU kernels: nothing to switch.
struct NoDeviceGuard {
    explicit NoDeviceGuard(c10::Device) {}
};

inline bool is_kernel_dtype(at::ScalarType t) {
    return t == at::kHalf || t == at::kBFloat16 || t == at::kFloat || t == at::kDouble;
}

inline void check_float_tensor(const at::Tensor& t, const char* op, const char* name) {
    TORCH_CHECK_TYPE(is_kernel_dtype(t.scalar_type()), op, ": ", name,
                     " must be float16, bfloat16, float32 or float64, got ", t.scalar_type());
}

inline DType dtype_of(const at::Tensor& t) {
    switch (t.scalar_type()) {
        case at::kHalf: return DType::Float16;
        case at::kBFloat16: return DType::BFloat16;
        case at::kFloat: return DType::Float32;
        default: return DType::Float64;
    }
}

inline at::ScalarType scalar_type_of(DType t) {
    switch (t) {
        case DType::Float16: return at::kHalf;
        case DType::BFloat16: return at::kBFloat16;
        case DType::Float32: return at::kFloat;
        default: return at::kDouble;
    }
}

// The kernels' accumulation type for x's dtype: float32, or float64 for float64 (also the dtype of adain's statistics,
// which stylegan_ops/adain.py's fake kernels mirror).
inline at::ScalarType accumulation_type(const at::Tensor& x) {
    return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// `t` itself when it already has the strides of `like` (a dense tensor of the same shape), else a copy laid out so.
inline at::Tensor with_layout_of(const at::Tensor& t, const at::Tensor& like) {
    if (t.strides() == like.strides()) return t;
    at::Tensor out = at::empty_like(like);
    out.copy_(t);
    return out;
}

// The memory format an op returns for a 4-D input: channels_last exactly when the input is channels_last and not
// also contiguous (as a tensor with C == 1 or H == W == 1 is). The fake kernels apply the same rule
// (stylegan_ops/_layout.py).
inline at::MemoryFormat output_memory_format(const at::Tensor& x) {
    return (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous())
               ? at::MemoryFormat::ChannelsLast
               : at::MemoryFormat::Contiguous;
}

}  // namespace stylegan_ops
