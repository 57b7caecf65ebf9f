// noise_bias_act for any device: argument checks, memory layout and the parameter block; the device's kernel runs it.
#pragma once

#include <ATen/ATen.h>

#include "bias_act_impl.h"
#include "common/noise_bias_act.h"
#include "layout.h"

namespace stylegan_ops {

using NoiseBiasActRunner = void (*)(const NoiseBiasActParams&);

// Checks a [N, C, H, W] layer input and the optional per-layer tensors that StyleGAN adds to it: noise [N, 1, H, W],
// its noise_strength (one value or one per channel), and a bias b [C]. All share x's dtype and device. (The Python API
// checks the same, with its own messages, before the reference path: stylegan_ops/_layer_inputs.py.)
inline void check_layer_inputs(const char* op, const at::Tensor& x, const std::optional<at::Tensor>& noise,
                               const std::optional<at::Tensor>& noise_strength, const std::optional<at::Tensor>& b) {
    check_float_tensor(x, op, "x");
    TORCH_CHECK_VALUE(x.dim() == 4, op, ": x must be 4-D [N, C, H, W], got shape ", x.sizes());
    auto check_like_x = [&](const at::Tensor& t, const char* name) {
        TORCH_CHECK_TYPE(t.scalar_type() == x.scalar_type(), op, ": ", name, " must have the dtype of x (",
                         x.scalar_type(), "), got ", t.scalar_type());
        TORCH_CHECK_VALUE(t.device() == x.device(), op, ": ", name, " must be on the device of x (", x.device(),
                          "), got ", t.device());
    };
    if (noise.has_value()) {
        check_like_x(*noise, "noise");
        TORCH_CHECK_VALUE(noise->dim() == 4 && noise->size(0) == x.size(0) && noise->size(1) == 1 &&
                              noise->size(2) == x.size(2) && noise->size(3) == x.size(3),
                          op, ": noise must have shape [", x.size(0), ", 1, ", x.size(2), ", ", x.size(3),
                          "], got ", noise->sizes());
        TORCH_CHECK_VALUE(noise_strength.has_value(), op, ": noise_strength is required with noise");
    }
    if (noise_strength.has_value()) {
        check_like_x(*noise_strength, "noise_strength");
        TORCH_CHECK_VALUE(noise.has_value(), op, ": noise_strength is given without noise");
        TORCH_CHECK_VALUE(noise_strength->dim() <= 1 &&
                              (noise_strength->numel() == 1 || noise_strength->numel() == x.size(1)),
                          op, ": noise_strength must hold one value or one per channel (", x.size(1),
                          "), got shape ", noise_strength->sizes());
    }
    if (b.has_value()) {
        check_like_x(*b, "b");
        TORCH_CHECK_VALUE(b->dim() == 1 && b->size(0) == x.size(1), op, ": b must have shape [", x.size(1),
                          "], got ", b->sizes());
    }
}

inline const void* data_or_null(const at::Tensor& t) { return t.defined() ? t.const_data_ptr() : nullptr; }

// A contiguous copy of an optional tensor (undefined when absent); keeps the data alive while a kernel runs.
inline at::Tensor contiguous_or_undefined(const std::optional<at::Tensor>& t) {
    return t.has_value() ? t->contiguous() : at::Tensor();
}

// The noise with each image's H*W plane contiguous, as the kernels read it: the tensor itself when it is already
// (a batch stride of 0, from expanding one noise image over the batch, stays), else a contiguous copy.
inline at::Tensor noise_planes(const std::optional<at::Tensor>& noise) {
    if (!noise.has_value()) return at::Tensor();
    const at::Tensor& t = *noise;
    const bool planes_contiguous =
        (t.size(3) <= 1 || t.stride(3) == 1) && (t.size(2) <= 1 || t.stride(2) == t.size(3));
    return planes_contiguous ? t : t.contiguous();
}

inline at::Tensor noise_bias_act_forward(const at::Tensor& x, const std::optional<at::Tensor>& noise,
                                         const std::optional<at::Tensor>& noise_strength,
                                         const std::optional<at::Tensor>& b, std::string_view act, double alpha,
                                         double gain, std::optional<double> clamp, NoiseBiasActRunner run) {
    check_layer_inputs("noise_bias_act", x, noise, noise_strength, b);
    const Act a = check_activation_args("noise_bias_act", act, alpha, gain, clamp);
    const at::MemoryFormat format = output_memory_format(x);
    at::Tensor y = at::empty(x.sizes(), x.options().memory_format(format));
    if (y.numel() == 0) return y;
    const at::Tensor x_in = x.contiguous(format);
    const at::Tensor noise_in = noise_planes(noise);
    const at::Tensor noise_strength_in = contiguous_or_undefined(noise_strength);
    const at::Tensor b_in = contiguous_or_undefined(b);
    NoiseBiasActParams p{};
    p.x = x_in.const_data_ptr();
    p.noise = data_or_null(noise_in);
    p.noise_strength = data_or_null(noise_strength_in);
    p.b = data_or_null(b_in);
    p.y = y.mutable_data_ptr();
    p.batch = x.size(0);
    p.channels = x.size(1);
    p.height = x.size(2);
    p.width = x.size(3);
    p.noise_batch_stride = noise_in.defined() ? noise_in.stride(0) : 0;
    p.noise_strength_per_channel = noise_strength_in.defined() && noise_strength_in.numel() > 1;
    p.channels_last = format == at::MemoryFormat::ChannelsLast;
    p.alpha = alpha;
    p.gain = gain;
    p.has_clamp = clamp.has_value();
    p.clamp = clamp_in_dtype(clamp, x.scalar_type());
    p.act = a;
    p.dtype = dtype_of(x);
    run(p);
    return y;
}

template <NoiseBiasActRunner Run, typename Guard>
struct NoiseBiasActOps {
    static at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& noise,
                              const std::optional<at::Tensor>& noise_strength, const std::optional<at::Tensor>& b,
                              c10::string_view act, double alpha, double gain, std::optional<double> clamp) {
        const Guard guard(x.device());
        return noise_bias_act_forward(x, noise, noise_strength, b, std::string_view(act.data(), act.size()), alpha,
                                      gain, clamp, Run);
    }
};

}  // namespace stylegan_ops
