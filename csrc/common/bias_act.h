// bias_act: the element-wise maths and the plain parameter block shared by the CPU and CUDA kernels.
//
//   forward:                 y  = clamp(act(x + b) * gain)
//   backward from the output: dx = dy * gain * act'(.) * [|y| < clamp]    (linear, relu, lrelu: act' follows from y)
//   backward from the input:  dx = dy * gain * act^(k)(x + b) * [|act(x + b) * gain| <= clamp],  k = 1 or 2
//
// The piecewise-linear activations differentiate from the output, so autograd keeps y (which the next layer keeps
// anyway) instead of x; their second derivative is zero, so the same kernel serves every order. The smooth
// activations differentiate from the input, with a second-derivative mode for double backward.
#pragma once

#include <stdint.h>

#include "dtype.h"
#include "host_device.h"

namespace stylegan_ops {

// The names, in this order, are parse_act's (csrc/bias_act_impl.h); stylegan_ops/activations.py holds the Python
// table of the same activations with their defaults.
enum class Act : int { Linear = 0, Relu, Lrelu, Tanh, Sigmoid, Elu, Selu, Softplus, Swish };
constexpr int kNumActs = 9;

enum class BiasActMode : int {
    Forward = 0,         // out = f(in + b)
    GradFromOutput = 1,  // out = d(in) given ref = y; piecewise-linear activations only
    GradFromInput1 = 2,  // out = d(in) given ref = x, first derivative
    GradFromInput2 = 3,  // out = d(in) given ref = x, second derivative
};

constexpr bool act_grad_from_output(Act a) { return a == Act::Linear || a == Act::Relu || a == Act::Lrelu; }

// Everything a kernel needs; pointers are to dense tensors that share one memory layout.
struct BiasActParams {
    const void* in;        // forward: x; backward: the incoming gradient
    const void* ref;       // backward: y (GradFromOutput) or x (GradFromInput*); forward: unused
    const void* b;         // bias of length bias_size, or null
    void* out;
    int64_t numel;
    int64_t bias_stride;   // distance in memory between elements of consecutive bias indices (stride of `dim`)
    int64_t bias_size;
    double alpha;
    double gain;
    double clamp;
    bool has_clamp;
    Act act;
    BiasActMode mode;
    DType dtype;
};

constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSoftplusThreshold = 20.0;  // softplus(s) = s above this, as torch.nn.functional.softplus

template <typename S>
SG_HD S sigmoid(S s) { return S(1) / (S(1) + Math<S>::exp(-s)); }

// act(s). NaN propagates through every branch.
template <Act A, typename S>
SG_HD S act_value(S s, S alpha) {
    if constexpr (A == Act::Linear) return s;
    else if constexpr (A == Act::Relu) return (s <= S(0)) ? S(0) : s;
    else if constexpr (A == Act::Lrelu) return (s > S(0)) ? s : s * alpha;
    else if constexpr (A == Act::Tanh) return Math<S>::tanh(s);
    else if constexpr (A == Act::Sigmoid) return sigmoid(s);
    else if constexpr (A == Act::Elu) return (s > S(0)) ? s : Math<S>::expm1(s);
    else if constexpr (A == Act::Selu) return (s > S(0)) ? S(kSeluScale) * s : S(kSeluScale * kSeluAlpha) * Math<S>::expm1(s);
    else if constexpr (A == Act::Softplus) return (s > S(kSoftplusThreshold)) ? s : Math<S>::log1p(Math<S>::exp(s));
    else return s * sigmoid(s);  // swish
}

// d^ORDER act / ds^ORDER at s, ORDER in {1, 2}.
template <Act A, int ORDER, typename S>
SG_HD S act_deriv(S s, S alpha) {
    static_assert(ORDER == 1 || ORDER == 2, "act_deriv: ORDER is 1 or 2");
    if constexpr (A == Act::Linear) return (ORDER == 1) ? S(1) : S(0);
    else if constexpr (A == Act::Relu) return (ORDER == 1 && s > S(0)) ? S(1) : S(0);
    else if constexpr (A == Act::Lrelu) return (ORDER == 2) ? S(0) : (s > S(0)) ? S(1) : alpha;
    else if constexpr (A == Act::Tanh) {
        S t = Math<S>::tanh(s);
        S d1 = S(1) - t * t;
        return (ORDER == 1) ? d1 : S(-2) * t * d1;
    } else if constexpr (A == Act::Sigmoid) {
        S g = sigmoid(s);
        S d1 = g * (S(1) - g);
        return (ORDER == 1) ? d1 : d1 * (S(1) - S(2) * g);
    } else if constexpr (A == Act::Elu) {
        if (s > S(0)) return (ORDER == 1) ? S(1) : S(0);
        return Math<S>::exp(s);
    } else if constexpr (A == Act::Selu) {
        if (s > S(0)) return (ORDER == 1) ? S(kSeluScale) : S(0);
        return S(kSeluScale * kSeluAlpha) * Math<S>::exp(s);
    } else if constexpr (A == Act::Softplus) {
        if (s > S(kSoftplusThreshold)) return (ORDER == 1) ? S(1) : S(0);
        S g = sigmoid(s);
        return (ORDER == 1) ? g : g * (S(1) - g);
    } else {  // swish: s * sigmoid(s)
        S g = sigmoid(s);
        S d1 = g * (S(1) - g);
        return (ORDER == 1) ? g + s * d1 : d1 * (S(2) + s * (S(1) - S(2) * g));
    }
}

// act'(.) for the piecewise-linear activations, read off the output: y_pos is y with the sign of the gain removed,
// so it has the sign of act(s), which for relu and lrelu (alpha >= 0) is the sign of s. Matches torch at s = 0
// and for NaN: relu passes the gradient of a NaN input, lrelu scales it by alpha.
template <Act A, typename S>
SG_HD S act_slope_from_output(S y_pos, S alpha) {
    if constexpr (A == Act::Relu) return (y_pos <= S(0)) ? S(0) : S(1);
    else if constexpr (A == Act::Lrelu) return (y_pos > S(0)) ? S(1) : alpha;
    else return S(1);
}

// Clamps v to [-c, c]; NaN stays NaN. Written as the operand order of the SSE/AVX max and min instructions (which
// return their second operand when either is NaN), so that each comparison compiles to one instruction.
template <typename S>
SG_HD S clamp_symmetric(S v, S c) {
    const S t = (-c > v) ? -c : v;
    return (c < t) ? c : t;
}

template <typename S>
SG_HD S abs_value(S v) { return (v < S(0)) ? -v : v; }

// The scalar parameters in the accumulation type S.
template <typename S>
struct BiasActScalars {
    S alpha, gain, clamp;
    bool has_clamp;
    SG_HD explicit BiasActScalars(const BiasActParams& p)
        : alpha(S(p.alpha)), gain(S(p.gain)), clamp(S(p.clamp)), has_clamp(p.has_clamp) {}
};

// One output element. `in` is x (forward) or dy; `ref` is y or x (backward); `b` the bias (0 when absent).
template <Act A, BiasActMode M, typename S>
SG_HD S bias_act_element(S in, S ref, S b, const BiasActScalars<S>& p) {
    const bool clamp = p.has_clamp;
    if constexpr (M == BiasActMode::Forward) {
        S v = act_value<A>(in + b, p.alpha) * p.gain;
        return clamp ? clamp_symmetric(v, p.clamp) : v;
    } else if constexpr (M == BiasActMode::GradFromOutput) {
        if (clamp && !(abs_value(ref) < p.clamp)) return S(0);
        S y_pos = (p.gain < S(0)) ? -ref : ref;
        return in * p.gain * act_slope_from_output<A>(y_pos, p.alpha);
    } else {
        constexpr int kOrder = (M == BiasActMode::GradFromInput1) ? 1 : 2;
        S s = ref + b;
        if (clamp && !(abs_value(act_value<A>(s, p.alpha) * p.gain) <= p.clamp)) return S(0);
        return in * p.gain * act_deriv<A, kOrder>(s, p.alpha);
    }
}

}  // namespace stylegan_ops
