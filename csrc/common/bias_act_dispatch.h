// Turns the run-time (activation, mode) pair of a BiasActParams into compile-time constants for a kernel template.
#pragma once

#include <type_traits>

#include "bias_act.h"

namespace stylegan_ops {

template <Act A>
using ActConst = std::integral_constant<Act, A>;
template <BiasActMode M>
using ModeConst = std::integral_constant<BiasActMode, M>;

// Calls f(ActConst<A>{}, ModeConst<M>{}) and returns true; returns false, calling nothing, for a combination that
// has no kernel (GradFromOutput exists only for the piecewise-linear activations).
template <Act A, typename F>
bool dispatch_bias_act_mode(BiasActMode mode, F& f) {
    switch (mode) {
        case BiasActMode::Forward: f(ActConst<A>{}, ModeConst<BiasActMode::Forward>{}); return true;
        case BiasActMode::GradFromOutput:
            if constexpr (act_grad_from_output(A)) {
                f(ActConst<A>{}, ModeConst<BiasActMode::GradFromOutput>{});
                return true;
            }
            return false;
        case BiasActMode::GradFromInput1: f(ActConst<A>{}, ModeConst<BiasActMode::GradFromInput1>{}); return true;
        case BiasActMode::GradFromInput2: f(ActConst<A>{}, ModeConst<BiasActMode::GradFromInput2>{}); return true;
    }
    return false;
}

template <typename F>
bool dispatch_bias_act(Act act, BiasActMode mode, F&& f) {
    switch (act) {
        case Act::Linear: return dispatch_bias_act_mode<Act::Linear>(mode, f);
        case Act::Relu: return dispatch_bias_act_mode<Act::Relu>(mode, f);
        case Act::Lrelu: return dispatch_bias_act_mode<Act::Lrelu>(mode, f);
        case Act::Tanh: return dispatch_bias_act_mode<Act::Tanh>(mode, f);
        case Act::Sigmoid: return dispatch_bias_act_mode<Act::Sigmoid>(mode, f);
        case Act::Elu: return dispatch_bias_act_mode<Act::Elu>(mode, f);
        case Act::Selu: return dispatch_bias_act_mode<Act::Selu>(mode, f);
        case Act::Softplus: return dispatch_bias_act_mode<Act::Softplus>(mode, f);
        case Act::Swish: return dispatch_bias_act_mode<Act::Swish>(mode, f);
    }
    return false;
}

}  // namespace stylegan_ops
