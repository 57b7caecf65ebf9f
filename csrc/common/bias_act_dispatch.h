// Turns the run-time (activation, mode) pair of a BiasActParams into compile-time constants for a kernel template.
#pragma once

#include <type_traits>

#include "bias_act.h"

namespace stylegan_ops {

template <Act A>
using ActConst = std::integral_constant<Act, A>;
template <BiasActMode M>
using ModeConst = std::integral_constant<BiasActMode, M>;

// Calls f(ActConst<A>{}, ModeConst<M>{}). GradFromOutput exists only for the piecewise-linear activations; the
// callers have rejected other combinations before they get here.
template <Act A, typename F>
void dispatch_bias_act_mode(BiasActMode mode, F& f) {
    switch (mode) {
        case BiasActMode::Forward: f(ActConst<A>{}, ModeConst<BiasActMode::Forward>{}); return;
        case BiasActMode::GradFromOutput:
            if constexpr (act_grad_from_output(A)) f(ActConst<A>{}, ModeConst<BiasActMode::GradFromOutput>{});
            return;
        case BiasActMode::GradFromInput1: f(ActConst<A>{}, ModeConst<BiasActMode::GradFromInput1>{}); return;
        case BiasActMode::GradFromInput2: f(ActConst<A>{}, ModeConst<BiasActMode::GradFromInput2>{}); return;
    }
}

template <typename F>
void dispatch_bias_act(Act act, BiasActMode mode, F&& f) {
    switch (act) {
        case Act::Linear: dispatch_bias_act_mode<Act::Linear>(mode, f); return;
        case Act::Relu: dispatch_bias_act_mode<Act::Relu>(mode, f); return;
        case Act::Lrelu: dispatch_bias_act_mode<Act::Lrelu>(mode, f); return;
        case Act::Tanh: dispatch_bias_act_mode<Act::Tanh>(mode, f); return;
        case Act::Sigmoid: dispatch_bias_act_mode<Act::Sigmoid>(mode, f); return;
        case Act::Elu: dispatch_bias_act_mode<Act::Elu>(mode, f); return;
        case Act::Selu: dispatch_bias_act_mode<Act::Selu>(mode, f); return;
        case Act::Softplus: dispatch_bias_act_mode<Act::Softplus>(mode, f); return;
        case Act::Swish: dispatch_bias_act_mode<Act::Swish>(mode, f); return;
    }
}

}  // namespace stylegan_ops
