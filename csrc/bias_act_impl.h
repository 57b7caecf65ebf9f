// bias_act for any device: argument checks, memory layout and the parameter block; the device's kernel runs it.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <string_view>

#include "common/bias_act.h"
#include "layout.h"

namespace stylegan_ops {

using BiasActRunner = void (*)(const BiasActParams&);

inline Act parse_act(std::string_view name) {
    static constexpr std::string_view kNames[kNumActs] = {"linear", "relu",  "lrelu",    "tanh", "sigmoid",
                                                          "elu",    "selu",  "softplus", "swish"};
    for (int i = 0; i < kNumActs; ++i) {
        if (kNames[i] == name) return static_cast<Act>(i);
    }
    TORCH_CHECK_VALUE(false, "bias_act: act: unknown activation '", name, "'");
}

// The activation's scalar arguments, as every op that applies one takes them.
inline Act check_activation_args(const char* op, std::string_view act, double alpha, double gain,
                                 std::optional<double> clamp) {
    const Act a = parse_act(act);
    TORCH_CHECK_VALUE(std::isfinite(alpha) && (a != Act::Lrelu || alpha >= 0), op,
                      ": alpha must be finite (and non-negative for lrelu), got ", alpha);
    TORCH_CHECK_VALUE(std::isfinite(gain), op, ": gain must be finite, got ", gain);
    TORCH_CHECK_VALUE(!clamp.has_value() || (*clamp >= 0 && !std::isnan(*clamp)), op,
                      ": clamp must be non-negative, got ", clamp.value_or(0.0));
    return a;
}

// The clamp bound as a tensor of `dtype` stores it. A clamped output equals this value, so the backward's test
// |y| < clamp must use it (0.9 is 0.89990234375 in float16), and the reference, computing in dtype, clamps to it too.
inline double clamp_in_dtype(std::optional<double> clamp, at::ScalarType dtype) {
    const double c = clamp.value_or(0.0);
    switch (dtype) {
        case at::kHalf: return static_cast<float>(c10::Half(static_cast<float>(c)));
        case at::kBFloat16: return static_cast<float>(c10::BFloat16(static_cast<float>(c)));
        case at::kFloat: return static_cast<float>(c);
        default: return c;
    }
}

// The parameter block for x (or the tensor that fixes the layout) and an optional bias along `dim`.
inline BiasActParams bias_act_params(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                                     std::string_view act, double alpha, double gain, std::optional<double> clamp,
                                     BiasActMode mode) {
    check_float_tensor(x, "bias_act", "x");
    BiasActParams p{};
    p.act = check_activation_args("bias_act", act, alpha, gain, clamp);
    p.mode = mode;
    p.dtype = dtype_of(x);
    p.numel = x.numel();
    p.alpha = alpha;
    p.gain = gain;
    p.has_clamp = clamp.has_value();
    p.clamp = clamp_in_dtype(clamp, x.scalar_type());
    TORCH_CHECK_VALUE(mode != BiasActMode::GradFromOutput || act_grad_from_output(p.act), "bias_act: act '", act,
                      "' is differentiated from its input, not its output");
    p.bias_stride = 1;
    p.bias_size = 1;
    if (b.has_value()) {
        const at::Tensor& bias = *b;
        TORCH_CHECK_VALUE(x.dim() > 0, "bias_act: x must have at least one dimension when b is given");
        TORCH_CHECK_VALUE(dim >= -x.dim() && dim < x.dim(), "bias_act: dim ", dim, " is out of range for x of ",
                          x.dim(), " dimensions");
        if (dim < 0) dim += x.dim();
        TORCH_CHECK_VALUE(bias.dim() == 1 && bias.size(0) == x.size(dim), "bias_act: b must have shape [",
                          x.size(dim), "] (x.shape[dim]), got ", bias.sizes());
        TORCH_CHECK_TYPE(bias.scalar_type() == x.scalar_type(), "bias_act: b must have the dtype of x (",
                         x.scalar_type(), "), got ", bias.scalar_type());
        TORCH_CHECK_VALUE(bias.device() == x.device(), "bias_act: b must be on the device of x (", x.device(),
                          "), got ", bias.device());
        p.bias_size = x.size(dim);
        p.bias_stride = p.bias_size > 1 ? x.stride(dim) : 1;
    }
    return p;
}

// y = clamp(act(x + b) * gain), y laid out like x when x is dense.
inline at::Tensor bias_act_forward(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                                   std::string_view act, double alpha, double gain, std::optional<double> clamp,
                                   BiasActRunner run) {
    at::Tensor y = at::empty_like(x);
    BiasActParams p = bias_act_params(y, b, dim, act, alpha, gain, clamp, BiasActMode::Forward);
    if (p.numel == 0) return y;
    at::Tensor x_in = with_layout_of(x, y);
    at::Tensor b_in = b.has_value() ? b->contiguous() : at::Tensor();
    p.in = x_in.const_data_ptr();
    p.b = b_in.defined() ? b_in.const_data_ptr() : nullptr;
    p.out = y.mutable_data_ptr();
    run(p);
    return y;
}

// Gradient with respect to the input of bias_act, from the output y (mode GradFromOutput, b unused) or from the
// input x and bias b (GradFromInput1/2).
inline at::Tensor bias_act_backward(const at::Tensor& grad, const at::Tensor& ref, const std::optional<at::Tensor>& b,
                                    int64_t dim, std::string_view act, double alpha, double gain,
                                    std::optional<double> clamp, BiasActMode mode, BiasActRunner run) {
    TORCH_CHECK_VALUE(grad.sizes() == ref.sizes(), "bias_act backward: grad must have the shape of the saved tensor ",
                      ref.sizes(), ", got ", grad.sizes());
    TORCH_CHECK_TYPE(grad.scalar_type() == ref.scalar_type(), "bias_act backward: grad must have dtype ",
                     ref.scalar_type(), ", got ", grad.scalar_type());
    TORCH_CHECK_VALUE(grad.device() == ref.device(), "bias_act backward: grad must be on ", ref.device(), ", got ",
                      grad.device());
    at::Tensor out = at::empty_like(ref);
    BiasActParams p = bias_act_params(out, b, dim, act, alpha, gain, clamp, mode);
    if (p.numel == 0) return out;
    at::Tensor grad_in = with_layout_of(grad, out);
    at::Tensor ref_in = with_layout_of(ref, out);
    at::Tensor b_in = b.has_value() ? b->contiguous() : at::Tensor();
    p.in = grad_in.const_data_ptr();
    p.ref = ref_in.const_data_ptr();
    p.b = b_in.defined() ? b_in.const_data_ptr() : nullptr;
    p.out = out.mutable_data_ptr();
    run(p);
    return out;
}

// The three registered ops of one device, bound to that device's runner and device guard.
template <BiasActRunner Run, typename Guard>
struct BiasActOps {
    static at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                              c10::string_view act, double alpha, double gain, std::optional<double> clamp) {
        const Guard guard(x.device());
        return bias_act_forward(x, b, dim, std::string_view(act.data(), act.size()), alpha, gain, clamp, Run);
    }
    static at::Tensor grad_from_output(const at::Tensor& grad, const at::Tensor& y, c10::string_view act,
                                       double alpha, double gain, std::optional<double> clamp) {
        const Guard guard(y.device());
        return bias_act_backward(grad, y, std::nullopt, 0, std::string_view(act.data(), act.size()), alpha, gain,
                                 clamp, BiasActMode::GradFromOutput, Run);
    }
    static at::Tensor grad_from_input(const at::Tensor& grad, const at::Tensor& x, const std::optional<at::Tensor>& b,
                                      int64_t dim, c10::string_view act, double alpha, double gain,
                                      std::optional<double> clamp, int64_t order) {
        TORCH_CHECK_VALUE(order == 1 || order == 2, "bias_act backward: order must be 1 or 2, got ", order);
        const Guard guard(x.device());
        return bias_act_backward(grad, x, b, dim, std::string_view(act.data(), act.size()), alpha, gain, clamp,
                                 order == 1 ? BiasActMode::GradFromInput1 : BiasActMode::GradFromInput2, Run);
    }
};

}  // namespace stylegan_ops
