// noise_bias_act on the CPU: one pass over memory. NCHW: a run per (n, c) plane, whose strength and bias are scalars
// and whose noise is the image's noise plane. Channels_last: a run per pixel, channels innermost, with the
// per-channel strength and bias as arrays. Either way the inner loop is contiguous and vectorizes.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../common/bias_act_dispatch.h"
#include "multiversion.h"
#include "../noise_bias_act_impl.h"

namespace stylegan_ops {
namespace {

// The per-channel strength and bias in the accumulation type (strength 0 without noise, bias 0 without b).
template <typename T, typename S>
void per_channel(const NoiseBiasActParams& p, std::vector<S>& strength, std::vector<S>& bias) {
    const T* st = static_cast<const T*>(p.noise_strength);
    const T* b = static_cast<const T*>(p.b);
    strength.assign(p.channels, S(0));
    bias.assign(p.channels, S(0));
    for (int64_t c = 0; c < p.channels; ++c) {
        if (st != nullptr) strength[c] = S(st[p.noise_strength_per_channel ? c : 0]);
        if (b != nullptr) bias[c] = S(b[c]);
    }
}

// y[i] = f(x[i] + strength[i or 0] * noise[i or 0] + b[i or 0]) over a contiguous run: a plane of NCHW (noise
// varies, strength and bias do not) or a pixel of channels_last (the reverse). noise null: no noise term.
template <typename T, Act A, bool kPerChannel, typename S>
SG_ALWAYS_INLINE void noise_bias_act_span(const T* __restrict x, const T* __restrict noise,
                                          const S* __restrict strength, const S* __restrict bias, T* __restrict y,
                                          int64_t n, const BiasActScalars<S>& sc) {
    for (int64_t i = 0; i < n; ++i) {
        const S nz = noise == nullptr ? S(0) : S(noise[kPerChannel ? 0 : i]);
        const S v = S(x[i]) + mul_rn(strength[kPerChannel ? i : 0], nz);
        y[i] = T(bias_act_element<A, BiasActMode::Forward, S>(v, S(0), bias[kPerChannel ? i : 0], sc));
    }
}

// The planes [begin, end) of NCHW, or the pixels [begin, end) of channels_last: one call per task, not per run (a
// call per 8x8 plane cost as much as the plane's work).
template <typename T, Act A, bool kChannelsLast, typename S>
SG_CPU_MULTIVERSION void noise_bias_act_runs(const NoiseBiasActParams& p, const S* __restrict strength,
                                             const S* __restrict bias, const BiasActScalars<S> sc, int64_t begin,
                                             int64_t end) {
    const T* x = static_cast<const T*>(p.x);
    const T* noise = static_cast<const T*>(p.noise);
    T* y = static_cast<T*>(p.y);
    const int64_t C = p.channels, hw = p.height * p.width;
    for (int64_t run = begin; run < end; ++run) {
        if constexpr (kChannelsLast) {
            const T* nz = noise != nullptr ? noise + (run / hw) * p.noise_batch_stride + run % hw : nullptr;
            noise_bias_act_span<T, A, true>(x + run * C, nz, strength, bias, y + run * C, C, sc);
        } else {
            const int64_t n = run / C, c = run % C;
            const T* nz = noise != nullptr ? noise + n * p.noise_batch_stride : nullptr;
            noise_bias_act_span<T, A, false>(x + run * hw, nz, strength + c, bias + c, y + run * hw, hw, sc);
        }
    }
}

template <typename T, Act A>
void noise_bias_act_cpu_typed(const NoiseBiasActParams& p) {
    using S = at::opmath_type<T>;
    const BiasActScalars<S> sc(activation_params(p));
    std::vector<S> strength, bias;
    per_channel<T>(p, strength, bias);
    const int64_t C = p.channels, hw = p.height * p.width;
    // Runs of hw (NCHW planes) or C (channels_last pixels) values; about 32K values per task.
    const int64_t runs = p.channels_last ? p.batch * hw : p.batch * C, run_length = p.channels_last ? C : hw;
    at::parallel_for(0, runs, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(run_length, 1)),
                     [&](int64_t begin, int64_t end) {
                         if (p.channels_last) {
                             noise_bias_act_runs<T, A, true>(p, strength.data(), bias.data(), sc, begin, end);
                         } else {
                             noise_bias_act_runs<T, A, false>(p, strength.data(), bias.data(), sc, begin, end);
                         }
                     });
}

void run_noise_bias_act_cpu(const NoiseBiasActParams& p) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, scalar_type_of(p.dtype), "noise_bias_act_cpu", [&] {
        const bool ran = dispatch_bias_act(p.act, BiasActMode::Forward, [&](auto act, auto) {
            noise_bias_act_cpu_typed<scalar_t, decltype(act)::value>(p);
        });
        TORCH_INTERNAL_ASSERT(ran, "noise_bias_act: no CPU kernel for this activation");
    });
}

using CpuOps = NoiseBiasActOps<run_noise_bias_act_cpu, NoDeviceGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CPU, m) { m.impl("noise_bias_act", &CpuOps::forward); }

}  // namespace stylegan_ops
