// Autograd of the layer epilogues (noise_bias_act, adain, style_epilogue) in C++, for every device.
//
// These ops run once or twice per layer on small tensors (16x512x8x8 is 2 MiB), where the fixed cost of a Python
// autograd wrapper (torch.library.register_autograd: about 60 us to record the graph and 250 us for the backward, on a
// 2-core CPU) was a third of the op's time. Here the forward runs the device kernel below autograd and the backward
// calls the backward ops through the dispatcher, so that their own autograd (registered in Python, stylegan_ops/)
// records a graph when a second derivative is asked for. The other ops keep their autograd in Python.
#include <torch/autograd.h>
#include <torch/library.h>

#include <ATen/core/dispatch/Dispatcher.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bias_act_impl.h"
#include "layout.h"

namespace stylegan_ops {
namespace {

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Triple = std::tuple<Tensor, Tensor, Tensor>;
using Quad = std::tuple<Tensor, Tensor, Tensor, Tensor>;
using OptTensor = std::optional<Tensor>;

template <typename Signature>
c10::TypedOperatorHandle<Signature> op_handle(const char* name) {
    return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

OptTensor optional(const Tensor& t) { return t.defined() ? OptTensor(t) : std::nullopt; }

// needs_input_grad by argument position. Absent optional tensors are not inputs of the graph, so the context counts
// only the present ones; the backward gets them saved as undefined tensors and passes whether each is defined.
std::vector<bool> needs_input_grads(const AutogradContext* ctx, std::initializer_list<bool> present) {
    std::vector<bool> needs;
    size_t input = 0;
    for (const bool p : present) needs.push_back(p && ctx->needs_input_grad(input++));
    return needs;
}

// ----- the ops this file calls, through the dispatcher

// The backward ops go through their autograd only while a graph of the gradients is being recorded (for a second
// derivative); otherwise straight to the device kernel, past their Python autograd wrapper and its fixed cost.
struct BelowAutogradUnlessRecording {
    std::optional<at::AutoDispatchBelowADInplaceOrView> guard;
    BelowAutogradUnlessRecording() {
        if (!at::GradMode::is_enabled()) guard.emplace();
    }
};

Tensor noise_bias_act_op(const Tensor& x, const OptTensor& noise, const OptTensor& strength, const OptTensor& b,
                         const std::string& act, double alpha, double gain, std::optional<double> clamp) {
    static const auto op =
        op_handle<Tensor(const Tensor&, const OptTensor&, const OptTensor&, const OptTensor&, c10::string_view, double,
                         double, std::optional<double>)>("stylegan_ops::noise_bias_act");
    return op.call(x, noise, strength, b, act, alpha, gain, clamp);
}

Tensor grad_from_output_op(const Tensor& grad, const Tensor& y, const std::string& act, double alpha, double gain,
                           std::optional<double> clamp) {
    static const auto op = op_handle<Tensor(const Tensor&, const Tensor&, c10::string_view, double, double,
                                            std::optional<double>)>("stylegan_ops::bias_act_grad_from_output");
    const BelowAutogradUnlessRecording below;
    return op.call(grad, y, act, alpha, gain, clamp);
}

Tensor grad_from_input_op(const Tensor& grad, const Tensor& x, const OptTensor& b, const std::string& act, double alpha,
                          double gain, std::optional<double> clamp) {
    static const auto op =
        op_handle<Tensor(const Tensor&, const Tensor&, const OptTensor&, int64_t, c10::string_view, double, double,
                         std::optional<double>, int64_t)>("stylegan_ops::bias_act_grad_from_input");
    const BelowAutogradUnlessRecording below;
    return op.call(grad, x, b, 1, act, alpha, gain, clamp, 1);
}

Triple adain_op(const Tensor& x, const Tensor& scale, const Tensor& bias, double eps) {
    static const auto op =
        op_handle<Triple(const Tensor&, const Tensor&, const Tensor&, double)>("stylegan_ops::adain");
    return op.call(x, scale, bias, eps);
}

Triple adain_backward_op(const Tensor& grad, const Tensor& x, const Tensor& scale, const Tensor& mean,
                         const Tensor& rstd, double eps) {
    static const auto op =
        op_handle<Triple(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double)>(
            "stylegan_ops::adain_backward");
    const BelowAutogradUnlessRecording below;
    return op.call(grad, x, scale, mean, rstd, eps);
}

Triple style_epilogue_op(const Tensor& x, const OptTensor& noise, const OptTensor& strength, const OptTensor& b,
                         const Tensor& scale, const Tensor& bias, double alpha, double gain, double eps) {
    static const auto op = op_handle<Triple(const Tensor&, const OptTensor&, const OptTensor&, const OptTensor&,
                                            const Tensor&, const Tensor&, double, double, double)>(
        "stylegan_ops::style_epilogue");
    return op.call(x, noise, strength, b, scale, bias, alpha, gain, eps);
}

Quad style_epilogue_backward_op(const Tensor& grad, const Tensor& x, const OptTensor& noise, const OptTensor& strength,
                                const OptTensor& b, const Tensor& scale, const Tensor& mean, const Tensor& rstd,
                                double alpha, double gain, double eps) {
    static const auto op =
        op_handle<Quad(const Tensor&, const Tensor&, const OptTensor&, const OptTensor&, const OptTensor&,
                       const Tensor&, const Tensor&, const Tensor&, double, double, double)>(
            "stylegan_ops::style_epilogue_backward");
    const BelowAutogradUnlessRecording below;
    return op.call(grad, x, noise, strength, b, scale, mean, rstd, alpha, gain, eps);
}

// ----- shared by noise_bias_act and style_epilogue

// A noise_strength of one value or one per channel, shaped to broadcast over [N, C, H, W].
Tensor per_channel(const Tensor& strength) {
    return strength.sym_numel() == 1 ? strength.reshape({}) : strength.reshape({1, -1, 1, 1});
}

struct LayerInputGrads {
    Tensor noise, strength, b;
};

// The gradients of noise, noise_strength and b (undefined where not needed) from the gradient of
// s = x + noise_strength * noise + b, as differentiable ATen ops. The per-channel contractions are matrix products
// over views of grad_s in its own layout (einsum and matmul pick far slower plans for them on the CPU).
LayerInputGrads layer_input_grads(const Tensor& grad_s, const Tensor& noise, const Tensor& strength, bool needs_noise,
                                  bool needs_strength, bool needs_b) {
    LayerInputGrads g;
    if (needs_b) g.b = grad_s.sum({0, 2, 3});
    if (!noise.defined() || !(needs_noise || needs_strength)) return g;
    // Sizes as SymInts: under torch.compile with dynamic shapes they are symbols.
    const c10::SymInt n = grad_s.sym_size(0), c = grad_s.sym_size(1), h = grad_s.sym_size(2), w = grad_s.sym_size(3);
    if (strength.sym_numel() == 1) {
        const Tensor summed = grad_s.sum(1, /*keepdim=*/true);
        if (needs_noise) g.noise = summed * strength.reshape({});
        if (needs_strength) g.strength = (summed * noise).sum().reshape_symint(strength.sym_sizes());
    } else if (output_memory_format(grad_s) == at::MemoryFormat::ChannelsLast) {
        // A view, channels innermost.
        const Tensor pixels = grad_s.permute({0, 2, 3, 1}).reshape_symint({n * h * w, c});
        if (needs_noise) g.noise = at::matmul(pixels, strength).reshape_symint({n, 1, h, w});
        if (needs_strength) g.strength = at::matmul(noise.reshape_symint({n * h * w}), pixels);
    } else {  // bmm, not matmul: matmul copies all of grad_s for a 1-D operand that requires grad
        const Tensor planes = grad_s.reshape_symint({n, c, h * w});
        if (needs_noise) g.noise = at::bmm(strength.expand_symint({n, 1, c}), planes).reshape_symint({n, 1, h, w});
        if (needs_strength) {
            g.strength = at::bmm(noise.reshape_symint({n, 1, h * w}), planes.transpose(1, 2)).sum({0, 1});
        }
    }
    return g;
}

// ----- noise_bias_act

struct NoiseBiasAct : torch::autograd::Function<NoiseBiasAct> {
    static Tensor forward(AutogradContext* ctx, const Tensor& x, const OptTensor& noise, const OptTensor& strength,
                          const OptTensor& b, const std::string& act, double alpha, double gain,
                          std::optional<double> clamp) {
        Tensor y;
        {
            at::AutoDispatchBelowADInplaceOrView below;
            y = noise_bias_act_op(x, noise, strength, b, act, alpha, gain, clamp);
        }
        // What the activation's derivative needs: y for linear, relu and lrelu (nothing for linear without clamp,
        // whose derivative is the constant gain), x and b for the others.
        const bool from_output = act_grad_from_output(parse_act(act));
        const Tensor ref = !from_output ? x : (act == "linear" && !clamp.has_value()) ? Tensor() : y;
        ctx->save_for_backward({ref, noise.value_or(Tensor()), strength.value_or(Tensor()), b.value_or(Tensor())});
        ctx->saved_data["act"] = act;
        ctx->saved_data["alpha"] = alpha;
        ctx->saved_data["gain"] = gain;
        ctx->saved_data["clamp"] = clamp;
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const variable_list saved = ctx->get_saved_variables();
        Tensor ref = saved[0];
        const Tensor &noise = saved[1], &strength = saved[2], &b = saved[3];
        const std::string act = ctx->saved_data["act"].toStringRef();
        const double alpha = ctx->saved_data["alpha"].toDouble(), gain = ctx->saved_data["gain"].toDouble();
        const std::optional<double> clamp = ctx->saved_data["clamp"].toOptional<double>();
        Tensor grad_s;
        if (!act_grad_from_output(parse_act(act))) {
            // The smooth activations differentiate at s = x + noise_strength * noise (+ b, which the op adds).
            // Rebuilt here in x's dtype, so in float16/bfloat16 it carries one rounding the forward's float32 s
            // did not.
            if (noise.defined()) ref = ref + noise * per_channel(strength);
            grad_s = grad_from_input_op(grads[0], ref, optional(b), act, alpha, gain, clamp);
        } else if (!ref.defined()) {
            grad_s = grads[0] * gain;
        } else {
            grad_s = grad_from_output_op(grads[0], ref, act, alpha, gain, clamp);
        }
        const std::vector<bool> needs =
            needs_input_grads(ctx, {true, noise.defined(), strength.defined(), b.defined()});
        const LayerInputGrads g = layer_input_grads(grad_s, noise, strength, needs[1], needs[2], needs[3]);
        return {needs[0] ? grad_s : Tensor(), g.noise, g.strength, g.b, Tensor(), Tensor(), Tensor(), Tensor()};
    }
};

Tensor noise_bias_act_autograd(const Tensor& x, const OptTensor& noise, const OptTensor& strength, const OptTensor& b,
                               c10::string_view act, double alpha, double gain, std::optional<double> clamp) {
    return NoiseBiasAct::apply(x, noise, strength, b, std::string(act), alpha, gain, clamp);
}

// ----- adain

struct Adain : torch::autograd::Function<Adain> {
    static variable_list forward(AutogradContext* ctx, const Tensor& x, const Tensor& scale, const Tensor& bias,
                                 double eps) {
        Tensor y, mean, rstd;
        {
            at::AutoDispatchBelowADInplaceOrView below;
            std::tie(y, mean, rstd) = adain_op(x, scale, bias, eps);
        }
        ctx->mark_non_differentiable({mean, rstd});
        ctx->save_for_backward({x, scale, mean, rstd});
        ctx->saved_data["eps"] = eps;
        return {y, mean, rstd};
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const variable_list s = ctx->get_saved_variables();
        auto [grad_x, grad_scale, grad_bias] = adain_backward_op(grads[0], s[0], s[1], s[2], s[3],
                                                                 ctx->saved_data["eps"].toDouble());
        return {grad_x, grad_scale, grad_bias, Tensor()};
    }
};

Triple adain_autograd(const Tensor& x, const Tensor& scale, const Tensor& bias, double eps) {
    const variable_list out = Adain::apply(x, scale, bias, eps);
    return {out[0], out[1], out[2]};
}

// ----- style_epilogue

struct StyleEpilogue : torch::autograd::Function<StyleEpilogue> {
    static variable_list forward(AutogradContext* ctx, const Tensor& x, const OptTensor& noise,
                                 const OptTensor& strength, const OptTensor& b, const Tensor& scale, const Tensor& bias,
                                 double alpha, double gain, double eps) {
        Tensor y, mean, rstd;
        {
            at::AutoDispatchBelowADInplaceOrView below;
            std::tie(y, mean, rstd) = style_epilogue_op(x, noise, strength, b, scale, bias, alpha, gain, eps);
        }
        ctx->mark_non_differentiable({mean, rstd});
        ctx->save_for_backward({x, noise.value_or(Tensor()), strength.value_or(Tensor()), b.value_or(Tensor()), scale,
                                mean, rstd});
        ctx->saved_data["alpha"] = alpha;
        ctx->saved_data["gain"] = gain;
        ctx->saved_data["eps"] = eps;
        return {y, mean, rstd};
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const variable_list s = ctx->get_saved_variables();
        const Tensor &x = s[0], &noise = s[1], &strength = s[2], &b = s[3];
        auto [grad_x, grad_scale, grad_bias, grad_x_sums] = style_epilogue_backward_op(
            grads[0], x, optional(noise), optional(strength), optional(b), s[4], s[5], s[6],
            ctx->saved_data["alpha"].toDouble(), ctx->saved_data["gain"].toDouble(), ctx->saved_data["eps"].toDouble());
        const std::vector<bool> needs =
            needs_input_grads(ctx, {true, noise.defined(), strength.defined(), b.defined(), true, true});
        const bool needs_strength = needs[2], needs_b = needs[3];
        LayerInputGrads g;
        if (at::GradMode::is_enabled()) {  // a graph of the gradients for a second derivative: from grad_x
            g = layer_input_grads(grad_x, noise, strength, needs[1], needs_strength, needs_b);
        } else {  // b's and noise_strength's from the kernel's per-plane sums (no pass over grad_x)
            g = layer_input_grads(grad_x, noise, strength, needs[1], false, false);
            const Tensor sums = grad_x_sums.sum(0);  // [C, 2]
            if (needs_b) g.b = sums.select(1, 0).to(x.scalar_type());
            if (needs_strength) {
                const Tensor per_channel_sums = sums.select(1, 1);
                g.strength = (strength.sym_numel() > 1 ? per_channel_sums : per_channel_sums.sum())
                                 .to(x.scalar_type())
                                 .reshape_symint(strength.sym_sizes());
            }
        }
        return {needs[0] ? grad_x : Tensor(), g.noise, g.strength, g.b, needs[4] ? grad_scale : Tensor(),
                needs[5] ? grad_bias : Tensor(), Tensor(), Tensor(), Tensor()};
    }
};

Triple style_epilogue_autograd(const Tensor& x, const OptTensor& noise, const OptTensor& strength, const OptTensor& b,
                               const Tensor& scale, const Tensor& bias, double alpha, double gain, double eps) {
    const variable_list out = StyleEpilogue::apply(x, noise, strength, b, scale, bias, alpha, gain, eps);
    return {out[0], out[1], out[2]};
}

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, Autograd, m) {
    m.impl("noise_bias_act", &noise_bias_act_autograd);
    m.impl("adain", &adain_autograd);
    m.impl("style_epilogue", &style_epilogue_autograd);
}

}  // namespace stylegan_ops
