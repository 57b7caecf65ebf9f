// adain and style_epilogue for any device: argument checks, memory layout, statistics tensors and the parameter
// block; the device's kernels run it. adain is style_epilogue without the pre-op.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <tuple>

#include "common/adain.h"
#include "layout.h"
#include "noise_bias_act_impl.h"

namespace stylegan_ops {

using AdainRunner = void (*)(const AdainParams&);
using Tensor3 = std::tuple<at::Tensor, at::Tensor, at::Tensor>;
using Tensor4 = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

inline void check_plane_params(const char* op, const char* name, const at::Tensor& t, const at::Tensor& x,
                               at::ScalarType dtype) {
    TORCH_CHECK_VALUE(t.dim() == 2 && t.size(0) == x.size(0) && t.size(1) == x.size(1), op, ": ", name,
                      " must have shape [", x.size(0), ", ", x.size(1), "] (one value per plane), got ", t.sizes());
    TORCH_CHECK_TYPE(t.scalar_type() == dtype, op, ": ", name, " must have dtype ", dtype, ", got ", t.scalar_type());
    TORCH_CHECK_VALUE(t.device() == x.device(), op, ": ", name, " must be on the device of x (", x.device(),
                      "), got ", t.device());
}

// The parameter block of the inputs shared by both directions, and the tensors it points into (kept alive here).
struct AdainSetup {
    AdainParams p{};
    at::MemoryFormat format;
    at::Tensor x, noise, noise_strength, b, style_scale;
};

inline AdainSetup adain_setup(const char* op, const at::Tensor& x, const std::optional<at::Tensor>& noise,
                              const std::optional<at::Tensor>& noise_strength, const std::optional<at::Tensor>& b,
                              const at::Tensor& style_scale, bool pre_op, double alpha, double gain, double eps) {
    check_layer_inputs(op, x, noise, noise_strength, b);
    check_plane_params(op, "style_scale", style_scale, x, x.scalar_type());
    TORCH_CHECK_VALUE(std::isfinite(eps) && eps > 0, op, ": eps must be positive and finite, got ", eps);
    TORCH_CHECK_VALUE(std::isfinite(alpha) && alpha >= 0, op, ": alpha must be non-negative, got ", alpha);
    TORCH_CHECK_VALUE(std::isfinite(gain), op, ": gain must be finite, got ", gain);
    AdainSetup s;
    s.format = output_memory_format(x);
    s.x = x.contiguous(s.format);
    s.noise = noise_planes(noise);
    s.noise_strength = contiguous_or_undefined(noise_strength);
    s.b = contiguous_or_undefined(b);
    s.style_scale = style_scale.contiguous();
    AdainParams& p = s.p;
    p.x = s.x.const_data_ptr();
    p.noise = data_or_null(s.noise);
    p.noise_strength = data_or_null(s.noise_strength);
    p.b = data_or_null(s.b);
    p.style_scale = s.style_scale.const_data_ptr();
    p.batch = x.size(0);
    p.channels = x.size(1);
    p.height = x.size(2);
    p.width = x.size(3);
    p.noise_batch_stride = s.noise.defined() ? s.noise.stride(0) : 0;
    p.noise_strength_per_channel = s.noise_strength.defined() && s.noise_strength.numel() > 1;
    p.pre_op = pre_op;
    p.channels_last = s.format == at::MemoryFormat::ChannelsLast;
    p.alpha = alpha;
    p.gain = gain;
    p.eps = eps;
    p.dtype = dtype_of(x);
    return s;
}

// (y, mean, rstd): the normalized output and the per-plane statistics the backward reuses ([N, C], float32, or
// float64 for float64 x).
inline Tensor3 adain_forward(const char* op, const at::Tensor& x, const std::optional<at::Tensor>& noise,
                             const std::optional<at::Tensor>& noise_strength, const std::optional<at::Tensor>& b,
                             const at::Tensor& style_scale, const at::Tensor& style_bias, bool pre_op, double alpha,
                             double gain, double eps, AdainRunner run) {
    AdainSetup s = adain_setup(op, x, noise, noise_strength, b, style_scale, pre_op, alpha, gain, eps);
    check_plane_params(op, "style_bias", style_bias, x, x.scalar_type());
    const at::Tensor style_bias_in = style_bias.contiguous();
    at::Tensor y = at::empty(x.sizes(), x.options().memory_format(s.format));
    at::Tensor mean = at::empty({x.size(0), x.size(1)}, x.options().dtype(accumulation_type(x)));
    at::Tensor rstd = at::empty_like(mean);
    if (x.numel() == 0) {
        // A plane without pixels has no statistics: mean 0, rstd 1 / sqrt(eps) (the constant-plane values).
        mean.zero_();
        rstd.fill_(1.0 / std::sqrt(eps));
        return {y, mean, rstd};
    }
    s.p.style_bias = style_bias_in.const_data_ptr();
    s.p.y = y.mutable_data_ptr();
    s.p.mean = mean.mutable_data_ptr();
    s.p.rstd = rstd.mutable_data_ptr();
    run(s.p);
    return {y, mean, rstd};
}

// (grad_x, grad_style_scale, grad_style_bias, grad_x_sums) from the gradient of y and the forward's statistics;
// grad_x_sums ([N, C, 2] in the accumulation type: per plane sum(grad_x) and sum(grad_x * noise)) only when
// with_sums, else undefined.
inline Tensor4 adain_gradients(const char* op, const at::Tensor& grad, const at::Tensor& x,
                               const std::optional<at::Tensor>& noise, const std::optional<at::Tensor>& noise_strength,
                               const std::optional<at::Tensor>& b, const at::Tensor& style_scale,
                               const at::Tensor& mean, const at::Tensor& rstd, bool pre_op, bool with_sums,
                               double alpha, double gain, double eps, AdainRunner run) {
    AdainSetup s = adain_setup(op, x, noise, noise_strength, b, style_scale, pre_op, alpha, gain, eps);
    TORCH_CHECK_VALUE(grad.sizes() == x.sizes(), op, ": grad must have the shape of x ", x.sizes(), ", got ",
                      grad.sizes());
    TORCH_CHECK_TYPE(grad.scalar_type() == x.scalar_type(), op, ": grad must have dtype ", x.scalar_type(), ", got ",
                     grad.scalar_type());
    TORCH_CHECK_VALUE(grad.device() == x.device(), op, ": grad must be on ", x.device(), ", got ", grad.device());
    check_plane_params(op, "mean", mean, x, accumulation_type(x));
    check_plane_params(op, "rstd", rstd, x, accumulation_type(x));
    const at::Tensor grad_in = grad.contiguous(s.format);
    const at::Tensor mean_in = mean.contiguous(), rstd_in = rstd.contiguous();
    at::Tensor grad_x = at::empty(x.sizes(), x.options().memory_format(s.format));
    at::Tensor grad_style_scale = at::empty({x.size(0), x.size(1)}, x.options());
    at::Tensor grad_style_bias = at::empty_like(grad_style_scale);
    at::Tensor grad_x_sums;
    if (with_sums) grad_x_sums = at::empty({x.size(0), x.size(1), 2}, x.options().dtype(accumulation_type(x)));
    if (x.numel() == 0) {
        grad_style_scale.zero_();
        grad_style_bias.zero_();
        if (with_sums) grad_x_sums.zero_();
        return {grad_x, grad_style_scale, grad_style_bias, grad_x_sums};
    }
    s.p.grad = grad_in.const_data_ptr();
    s.p.mean = const_cast<void*>(mean_in.const_data_ptr());
    s.p.rstd = const_cast<void*>(rstd_in.const_data_ptr());
    s.p.grad_x = grad_x.mutable_data_ptr();
    s.p.grad_style_scale = grad_style_scale.mutable_data_ptr();
    s.p.grad_style_bias = grad_style_bias.mutable_data_ptr();
    s.p.grad_x_sums = with_sums ? grad_x_sums.mutable_data_ptr() : nullptr;
    run(s.p);
    return {grad_x, grad_style_scale, grad_style_bias, grad_x_sums};
}

// The four registered ops of one device, bound to its forward and backward runners and device guard.
template <AdainRunner Forward, AdainRunner Backward, typename Guard>
struct AdainOps {
    static Tensor3 adain(const at::Tensor& x, const at::Tensor& style_scale, const at::Tensor& style_bias,
                         double eps) {
        const Guard guard(x.device());
        return adain_forward("adain", x, std::nullopt, std::nullopt, std::nullopt, style_scale, style_bias, false,
                             0.0, 1.0, eps, Forward);
    }
    static Tensor3 adain_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& style_scale,
                                  const at::Tensor& mean, const at::Tensor& rstd, double eps) {
        const Guard guard(x.device());
        auto [grad_x, grad_style_scale, grad_style_bias, unused] =
            adain_gradients("adain_backward", grad, x, std::nullopt, std::nullopt, std::nullopt, style_scale, mean,
                            rstd, false, false, 0.0, 1.0, eps, Backward);
        return {grad_x, grad_style_scale, grad_style_bias};
    }
    static Tensor3 style_epilogue(const at::Tensor& x, const std::optional<at::Tensor>& noise,
                                  const std::optional<at::Tensor>& noise_strength,
                                  const std::optional<at::Tensor>& b, const at::Tensor& style_scale,
                                  const at::Tensor& style_bias, double alpha, double gain, double eps) {
        const Guard guard(x.device());
        return adain_forward("style_epilogue", x, noise, noise_strength, b, style_scale, style_bias, true, alpha,
                             gain, eps, Forward);
    }
    static Tensor4 style_epilogue_backward(const at::Tensor& grad, const at::Tensor& x,
                                           const std::optional<at::Tensor>& noise,
                                           const std::optional<at::Tensor>& noise_strength,
                                           const std::optional<at::Tensor>& b, const at::Tensor& style_scale,
                                           const at::Tensor& mean, const at::Tensor& rstd, double alpha, double gain,
                                           double eps) {
        const Guard guard(x.device());
        return adain_gradients("style_epilogue_backward", grad, x, noise, noise_strength, b, style_scale, mean, rstd,
                               true, true, alpha, gain, eps, Backward);
    }
};

}  // namespace stylegan_ops
