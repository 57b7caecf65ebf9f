// bias_act on the CPU: one pass over memory, split across threads with at::parallel_for. The inner loops run over
// memory in order with either one bias value (the bias dimension is not the innermost) or consecutive bias values
// (it is, as in channels_last), so the compiler can vectorize them.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../bias_act_impl.h"
#include "../common/bias_act_dispatch.h"
#include "multiversion.h"

namespace stylegan_ops {
namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per task

// out[i] = f(in[i], ref[i], bias[i or 0]) for i < n. Everything the loop reads is a restrict pointer or a local
// copy, so stores to out cannot alias the parameters and the loop vectorizes.
template <typename T, Act A, BiasActMode M, bool kBiasVaries, typename S, typename B = T>
SG_CPU_MULTIVERSION void bias_act_span(const T* __restrict in, const T* __restrict ref, const B* __restrict bias, S bias_value,
                   T* __restrict out, int64_t n, const BiasActScalars<S> sc) {
    constexpr bool kReadsRef = M != BiasActMode::Forward;
    for (int64_t i = 0; i < n; ++i) {
        const S b = kBiasVaries ? S(bias[i]) : bias_value;
        const S r = kReadsRef ? S(ref[i]) : S(0);
        out[i] = T(bias_act_element<A, M, S>(S(in[i]), r, b, sc));
    }
}

// The reference tensor is absent in forward mode.
template <typename T>
const T* advance(const T* p, int64_t i) { return p != nullptr ? p + i : nullptr; }

template <typename T, Act A, BiasActMode M>
void bias_act_cpu_typed(const BiasActParams& p) {
    using S = at::opmath_type<T>;
    const T* in = static_cast<const T*>(p.in);
    const T* ref = static_cast<const T*>(p.ref);
    const T* b = static_cast<const T*>(p.b);
    T* out = static_cast<T*>(p.out);
    const BiasActScalars<S> sc(p);

    if (b == nullptr || M == BiasActMode::GradFromOutput) {
        at::parallel_for(0, p.numel, kGrain, [&](int64_t begin, int64_t end) {
            bias_act_span<T, A, M, false>(in + begin, advance(ref, begin), b, S(0), out + begin, end - begin, sc);
        });
    } else if (p.bias_stride == 1 && p.bias_size > 1) {
        // The bias index is the innermost one: runs of consecutive bias values.
        const int64_t C = p.bias_size;
        at::parallel_for(0, p.numel, kGrain, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin, c = begin % C; i < end; c = 0) {
                const int64_t n = std::min(end - i, C - c);
                bias_act_span<T, A, M, true>(in + i, advance(ref, i), b + c, S(0), out + i, n, sc);
                i += n;
            }
        });
    } else if (p.bias_size > 1 && p.bias_stride < 64 && p.bias_stride * p.bias_size <= (1 << 16)) {
        // Short spans per bias value (e.g. 4x4 planes): expand one period of the bias pattern, then run over it.
        const int64_t span = p.bias_stride, period = span * p.bias_size;
        std::vector<S> pattern(period);
        for (int64_t k = 0; k < period; ++k) pattern[k] = S(b[k / span]);
        at::parallel_for(0, p.numel, kGrain, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin, offset = begin % period; i < end; offset = 0) {
                const int64_t n = std::min(end - i, period - offset);
                bias_act_span<T, A, M, true>(in + i, advance(ref, i), pattern.data() + offset, S(0), out + i, n, sc);
                i += n;
            }
        });
    } else {
        // Spans of bias_stride elements share one bias value; span s uses b[s % bias_size].
        const int64_t span = p.bias_size > 1 ? p.bias_stride : p.numel;
        const int64_t C = p.bias_size;
        at::parallel_for(0, p.numel, kGrain, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end;) {
                const int64_t s = i / span;
                const int64_t n = std::min(end, (s + 1) * span) - i;
                bias_act_span<T, A, M, false>(in + i, advance(ref, i), b, S(b[s % C]), out + i, n, sc);
                i += n;
            }
        });
    }
}

void run_bias_act_cpu(const BiasActParams& p) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, scalar_type_of(p.dtype), "bias_act_cpu", [&] {
        const bool ran = dispatch_bias_act(p.act, p.mode, [&](auto act, auto mode) {
            bias_act_cpu_typed<scalar_t, decltype(act)::value, decltype(mode)::value>(p);
        });
        TORCH_INTERNAL_ASSERT(ran, "bias_act: no CPU kernel for this activation and mode");
    });
}

using CpuOps = BiasActOps<run_bias_act_cpu, NoDeviceGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CPU, m) {
    m.impl("bias_act", &CpuOps::forward);
    m.impl("bias_act_grad_from_output", &CpuOps::grad_from_output);
    m.impl("bias_act_grad_from_input", &CpuOps::grad_from_input);
}

}  // namespace stylegan_ops
