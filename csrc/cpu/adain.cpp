// adain and style_epilogue on the CPU. Statistics are sums of deviations from the plane's first value (in chunks in
// the accumulation type, across chunks in float64), turned into mean and variance with MeanVar: no cancellation from
// a large mean, no negative variance. Each direction reads its inputs twice at most and writes once.
//
// NCHW: a task per (n, c) plane (or per block of small planes). The pre-op result t of the plane is kept in a buffer
// between the statistics and the output; x, the noise plane and the buffer are contiguous, and so the inner loops.
// Channels_last: a task per (n, block of channels); per-channel sums are arrays and the inner loops run over
// contiguous channels.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../adain_impl.h"
#include "lane_sums.h"
#include "multiversion.h"
#include "prefetch.h"

namespace stylegan_ops {
namespace {

using D = double;                      // accumulation type across chunks
constexpr int64_t kChunk = 4096;       // values summed in the accumulation type before adding to the float64 total
constexpr int64_t kChannelBlock = 64;  // channels per channels_last task
constexpr int64_t kPlaneBlock = 64;    // small NCHW planes handled together

// The layer inputs of one call: x, noise, and the per-channel noise strength and bias b of the pre-op (0 when
// absent).
template <typename T>
struct LayerInputs {
    using S = at::opmath_type<T>;
    const AdainParams& p;
    const T* x;
    const T* noise;
    std::vector<S> strength, b;
    S alpha, gain;

    explicit LayerInputs(const AdainParams& params)
        : p(params),
          x(static_cast<const T*>(params.x)),
          noise(static_cast<const T*>(params.noise)),
          strength(params.channels, S(0)),
          b(params.channels, S(0)),
          alpha(S(params.alpha)),
          gain(S(params.gain)) {
        const T* strength_in = static_cast<const T*>(params.noise_strength);
        const T* b_in = static_cast<const T*>(params.b);
        for (int64_t c = 0; c < params.channels; ++c) {
            if (strength_in != nullptr) strength[c] = S(strength_in[params.noise_strength_per_channel ? c : 0]);
            if (b_in != nullptr) b[c] = S(b_in[c]);
        }
    }

    // Image n's noise plane (contiguous H*W values), or null without noise.
    const T* noise_plane(int64_t n) const { return noise != nullptr ? noise + n * p.noise_batch_stride : nullptr; }

    S noise_at(int64_t n, int64_t pixel) const {
        return noise != nullptr ? S(noise[n * p.noise_batch_stride + pixel]) : S(0);
    }
};

// Per-thread scratch of the NCHW kernels: pre-op values of a plane (or of a block of small planes).
template <typename T>
using PlaneScratch = std::vector<at::opmath_type<T>>;

// t of one NCHW plane (x, the image's noise plane or null, the channel's noise strength and b) into out.
template <bool kPre, typename T, typename S>
SG_ALWAYS_INLINE void plane_values(const T* __restrict x, const T* __restrict noise, S strength, S b, S alpha, S gain,
                                   int64_t n, S* __restrict out) {
    for (int64_t i = 0; i < n; ++i) {
        const S nz = (kPre && noise != nullptr) ? S(noise[i]) : S(0);
        out[i] = kPre ? style_pre_op(S(x[i]), nz, strength, b, alpha, gain) : S(x[i]);
    }
}

// Mean and variance of v[0..n), n > 0, from deviations from v[0]. The outputs are centred the same way,
// (v - v[0]) - (mean - v[0]): v - v[0] is exact for values near v[0], and mean - v[0] is small, so a plane whose
// spread is tiny next to its mean keeps its precision (v - mean with a float mean would round at the mean's scale).
template <typename S>
SG_ALWAYS_INLINE MeanVar<D> plane_statistics(const S* __restrict v, int64_t n) {
    const S shift = v[0];
    D sum = 0, sum_sq = 0;
    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
        S s1, s2;
        shifted_sums(v + c0, std::min(kChunk, n - c0), shift, s1, s2);
        sum += D(s1);
        sum_sq += D(s2);
    }
    return MeanVar<D>::from_shifted_sums(D(n), D(shift), sum, sum_sq);
}

// (sum of g, sum of g * w) over a plane of n values, g and w converted to the accumulation type S: in S within
// chunks of kChunk values, in float64 across them.
template <typename S, typename G, typename W>
SG_ALWAYS_INLINE void plane_weighted_sums(const G* __restrict g, const W* __restrict w, int64_t n, D& sum,
                                          D& sum_weighted) {
    sum = sum_weighted = 0;
    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
        S s1, s2;
        weighted_sums(g + c0, w + c0, std::min(kChunk, n - c0), s1, s2);
        sum += D(s1);
        sum_weighted += D(s2);
    }
}

// One NCHW plane: its statistics and normalized output. t is scratch for the plane's pre-op values.
template <bool kPre, typename T, typename S>
SG_CPU_MULTIVERSION void forward_plane(const T* __restrict x, const T* __restrict noise, S strength, S b, S alpha,
                                       S gain, S style_scale, S style_bias, D eps, int64_t hw, S* __restrict t,
                                       T* __restrict y, S& mean_out, S& rstd_out) {
    plane_values<kPre>(x, noise, strength, b, alpha, gain, hw, t);
    const S shift = t[0];
    const MeanVar<D> mv = plane_statistics(t, hw);
    const S offset = S(mv.mean - D(shift)), rstd = S(mv.rstd(double(eps)));
    mean_out = S(mv.mean);
    rstd_out = rstd;
    const S a = rstd * style_scale;
    for (int64_t i = 0; i < hw; ++i) y[i] = T(((t[i] - shift) - offset) * a + style_bias);
}

// NCHW planes of at most kChunk pixels, `count` (<= kPlaneBlock) of them from plane `first`: first the sums of all
// of them, then their mean and rstd in one vectorizable loop (so that no plane waits on its own square root), then
// their outputs, while the next `next_count` planes of x are fetched (0: none). t holds count * HW pre-op values.
template <bool kPre, typename T>
SG_CPU_MULTIVERSION void forward_small_planes(const AdainParams& p, const LayerInputs<T>& in,
                                              PlaneScratch<T>& scratch, int64_t first, int64_t count,
                                              int64_t next_count) {
    using S = at::opmath_type<T>;
    const int64_t C = p.channels, HW = p.height * p.width;
    const T* style_scale = static_cast<const T*>(p.style_scale) + first;
    const T* style_bias = static_cast<const T*>(p.style_bias) + first;
    S* mean_out = static_cast<S*>(p.mean) + first;
    S* rstd_out = static_cast<S*>(p.rstd) + first;
    S shift[kPlaneBlock], s1[kPlaneBlock], s2[kPlaneBlock], a[kPlaneBlock];
    // Without a pre-op and in the accumulation type already, the planes of x are the values: no copy.
    constexpr bool kInPlace = !kPre && std::is_same_v<T, S>;
    const S* t = scratch.data();
    if constexpr (kInPlace) t = in.x + first * HW;
    for (int64_t k = 0; k < count; ++k) {
        const int64_t plane = first + k, n = plane / C, c = plane % C;
        const S* tk = t + k * HW;
        if constexpr (!kInPlace) {
            plane_values<kPre>(in.x + plane * HW, in.noise_plane(n), in.strength[c], in.b[c], in.alpha, in.gain, HW,
                               scratch.data() + k * HW);
        }
        shift[k] = tk[0];
        shifted_sums(tk, HW, shift[k], s1[k], s2[k]);
    }
    const S inv_hw = S(1) / S(HW);
    for (int64_t k = 0; k < count; ++k) {
        const S d = s1[k] * inv_hw;
        const S var = s2[k] * inv_hw - d * d;
        const S rstd = S(MeanVar<S>::rstd_of_variance(D(var < S(0) ? S(0) : var), p.eps));
        s1[k] = d;  // now the mean's offset from the shift
        mean_out[k] = shift[k] + d;
        rstd_out[k] = rstd;
        a[k] = rstd * S(style_scale[k]);
    }
    T* y = static_cast<T*>(p.y) + first * HW;
    const T* next = next_count > 0 ? in.x + (first + count) * HW : nullptr;
    for (int64_t k = 0; k < count; ++k) {
        const S* tk = t + k * HW;
        const S sk = shift[k], offset = s1[k], ak = a[k], bk = S(style_bias[k]);
        T* __restrict yk = y + k * HW;
        const T* next_k = k < next_count ? next + k * HW : nullptr;
        for_stretches(HW, [&](int64_t i0, int64_t i1) SG_INLINE_LAMBDA {
            for (int64_t i = i0; i < i1; ++i) yk[i] = T(((tk[i] - sk) - offset) * ak + bk);
        }, next_k);
    }
}

template <typename T, bool kPre>
void forward_planes(const AdainParams& p, const LayerInputs<T>& in) {
    using S = at::opmath_type<T>;
    const T* style_scale = static_cast<const T*>(p.style_scale);
    const T* style_bias = static_cast<const T*>(p.style_bias);
    T* y = static_cast<T*>(p.y);
    S* mean_out = static_cast<S*>(p.mean);
    S* rstd_out = static_cast<S*>(p.rstd);
    const int64_t C = p.channels, HW = p.height * p.width, planes = p.batch * C;
    if (HW <= kChunk) {
        // From memory, blocks of about kPrefetchBlockValues values, each fetched while the previous one is written.
        const bool prefetch = planes * HW * int64_t(sizeof(T)) >= kPrefetchMinBytes;
        const int64_t per_block =
            prefetch ? std::clamp<int64_t>(kPrefetchBlockValues / HW, 1, kPlaneBlock) : kPlaneBlock;
        const int64_t blocks = (planes + per_block - 1) / per_block;
        at::parallel_for(0, blocks, std::max<int64_t>(1, (1 << 14) / (HW * per_block)), [&](int64_t b0, int64_t b1) {
            PlaneScratch<T> scratch(per_block * HW);
            for (int64_t block = b0; block < b1; ++block) {
                const int64_t first = block * per_block, count = std::min(per_block, planes - first);
                const int64_t next_count = prefetch && block + 1 < b1 ? std::min(per_block, planes - first - count) : 0;
                forward_small_planes<kPre>(p, in, scratch, first, count, next_count);
            }
        });
        return;
    }
    at::parallel_for(0, planes, std::max<int64_t>(1, (1 << 14) / HW), [&](int64_t begin, int64_t end) {
        PlaneScratch<T> scratch(HW);
        for (int64_t plane = begin; plane < end; ++plane) {
            const int64_t n = plane / C, c = plane % C;
            forward_plane<kPre>(in.x + plane * HW, in.noise_plane(n), in.strength[c], in.b[c], in.alpha, in.gain,
                                S(style_scale[plane]), S(style_bias[plane]), D(p.eps), HW, scratch.data(),
                                y + plane * HW, mean_out[plane], rstd_out[plane]);
        }
    });
}

// One NCHW plane of the backward: grad_x, the plane's grad_style_scale and grad_style_bias, and when sums is not
// null its sum(grad_x) and sum(grad_x * noise) there. that is scratch. While it writes grad_x it asks for the
// planes next_x and next_grad (of the same size; null: none).
template <bool kPre, typename T, typename S>
SG_ALWAYS_INLINE void backward_plane(const T* __restrict x, const T* __restrict grad, const T* __restrict noise,
                                     S strength, S b, S alpha, S gain, S style_scale, S mean, S rstd, int64_t hw,
                                     S* __restrict that, T* __restrict grad_x, T& grad_style_scale,
                                     T& grad_style_bias, S* __restrict sums, const T* next_x, const T* next_grad) {
    plane_values<kPre>(x, noise, strength, b, alpha, gain, hw, that);
    for (int64_t i = 0; i < hw; ++i) that[i] = (that[i] - mean) * rstd;
    D sum_dy, sum_dy_that;
    plane_weighted_sums<S>(grad, that, hw, sum_dy, sum_dy_that);
    grad_style_scale = T(sum_dy_that);
    grad_style_bias = T(sum_dy);
    const S coef = rstd * style_scale, mean_dy = S(sum_dy / D(hw)), mean_dy_that = S(sum_dy_that / D(hw));
    for_stretches(hw, [&](int64_t i0, int64_t i1) SG_INLINE_LAMBDA {
        for (int64_t i = i0; i < i1; ++i) {
            const S nz = (kPre && noise != nullptr) ? S(noise[i]) : S(0);
            const S slope = kPre ? style_pre_op_slope(S(x[i]), nz, strength, b, alpha, gain) : S(1);
            const S dx = coef * (S(grad[i]) - mean_dy - that[i] * mean_dy_that) * slope;
            grad_x[i] = T(dx);
            that[i] = dx;  // kept for the sums
        }
    }, next_x, next_grad);
    if (sums != nullptr) {
        D sum_dx, weighted;
        if (noise != nullptr) plane_weighted_sums<S>(that, noise, hw, sum_dx, weighted);
        else plane_weighted_sums<S>(that, that, hw, sum_dx, weighted);  // only the first sum is wanted
        sums[0] = S(sum_dx);
        sums[1] = noise != nullptr ? S(weighted) : S(0);
    }
}

// The NCHW planes [begin, end) of the backward: one call per task, not per plane (a call per 8x8 plane cost as
// much as the plane's work).
template <typename T, bool kPre>
SG_CPU_MULTIVERSION void backward_plane_range(const AdainParams& p, const LayerInputs<T>& in,
                                              PlaneScratch<T>& scratch, int64_t begin, int64_t end) {
    using S = at::opmath_type<T>;
    const T* grad = static_cast<const T*>(p.grad);
    const T* style_scale = static_cast<const T*>(p.style_scale);
    const S* mean = static_cast<const S*>(p.mean);
    const S* rstd = static_cast<const S*>(p.rstd);
    T* grad_x = static_cast<T*>(p.grad_x);
    T* grad_style_scale = static_cast<T*>(p.grad_style_scale);
    T* grad_style_bias = static_cast<T*>(p.grad_style_bias);
    S* sums = static_cast<S*>(p.grad_x_sums);
    const int64_t C = p.channels, HW = p.height * p.width;
    const bool prefetch = p.batch * C * HW * int64_t(sizeof(T)) >= kPrefetchMinBytes;
    for (int64_t plane = begin; plane < end; ++plane) {
        const int64_t n = plane / C, c = plane % C;
        const bool next = prefetch && plane + 1 < end;
        backward_plane<kPre>(in.x + plane * HW, grad + plane * HW, in.noise_plane(n), in.strength[c], in.b[c],
                             in.alpha, in.gain, S(style_scale[plane]), mean[plane], rstd[plane], HW, scratch.data(),
                             grad_x + plane * HW, grad_style_scale[plane], grad_style_bias[plane],
                             sums != nullptr ? sums + 2 * plane : nullptr, next ? in.x + (plane + 1) * HW : nullptr,
                             next ? grad + (plane + 1) * HW : nullptr);
    }
}

template <typename T, bool kPre>
void backward_planes(const AdainParams& p, const LayerInputs<T>& in) {
    const int64_t HW = p.height * p.width;
    at::parallel_for(0, p.batch * p.channels, std::max<int64_t>(1, (1 << 14) / HW), [&](int64_t begin, int64_t end) {
        PlaneScratch<T> scratch(HW);
        backward_plane_range<T, kPre>(p, in, scratch, begin, end);
    });
}

// Channels_last: calls body(n, c0, nc) for every (image, block of channels) task.
template <typename F>
void for_each_channel_block(const AdainParams& p, F&& body) {
    const int64_t blocks = (p.channels + kChannelBlock - 1) / kChannelBlock;
    at::parallel_for(0, p.batch * blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t task = begin; task < end; ++task) {
            const int64_t n = task / blocks, c0 = (task % blocks) * kChannelBlock;
            body(n, c0, std::min(kChannelBlock, p.channels - c0));
        }
    });
}

// Per-channel sums over the pixels of a channels_last task: pixel(q, s1, s2) adds pixel q's terms of the nc channels
// to s1[k] and s2[k], in the accumulation type within chunks of kChunk pixels and in float64 across them (out1,
// out2).
template <typename S, typename F>
SG_ALWAYS_INLINE void channel_sums(int64_t hw, int64_t nc, D* __restrict out1, D* __restrict out2, F&& pixel) {
    S s1[kChannelBlock], s2[kChannelBlock];
    for (int64_t q0 = 0; q0 < hw; q0 += kChunk) {
        std::fill(s1, s1 + nc, S(0));
        std::fill(s2, s2 + nc, S(0));
        for (int64_t q = q0; q < std::min(hw, q0 + kChunk); ++q) pixel(q, s1, s2);
        for (int64_t k = 0; k < nc; ++k) {
            out1[k] += D(s1[k]);
            out2[k] += D(s2[k]);
        }
    }
}

// One channels_last task: image n, channels c0 .. c0 + nc.
template <typename T, bool kPre>
SG_CPU_MULTIVERSION void forward_channel_block(const AdainParams& p, const LayerInputs<T>& in, int64_t n,
                                               int64_t c0, int64_t nc) {
    using S = at::opmath_type<T>;
    const T* style_scale = static_cast<const T*>(p.style_scale);
    const T* style_bias = static_cast<const T*>(p.style_bias);
    T* y = static_cast<T*>(p.y);
    S* mean_out = static_cast<S*>(p.mean);
    S* rstd_out = static_cast<S*>(p.rstd);
    const int64_t C = p.channels, HW = p.height * p.width;
    S shift[kChannelBlock], offset[kChannelBlock], a[kChannelBlock], style_b[kChannelBlock];
    D sum[kChannelBlock] = {}, sum_sq[kChannelBlock] = {};
    const S* __restrict strength = in.strength.data() + c0;
    const S* __restrict b = in.b.data() + c0;
    const S alpha = in.alpha, gain = in.gain;
    const T* xn = in.x + n * HW * C + c0;
    auto t_at = [&](const T* xq, S nz, int64_t k) {
        return kPre ? style_pre_op(S(xq[k]), nz, strength[k], b[k], alpha, gain) : S(xq[k]);
    };
    for (int64_t k = 0; k < nc; ++k) shift[k] = t_at(xn, in.noise_at(n, 0), k);
    channel_sums<S>(HW, nc, sum, sum_sq, [&](int64_t q, S* __restrict s1, S* __restrict s2) SG_INLINE_LAMBDA {
        const S nz = kPre ? in.noise_at(n, q) : S(0);
        const T* xq = xn + q * C;
        for (int64_t k = 0; k < nc; ++k) {
            const S d = t_at(xq, nz, k) - shift[k];
            s1[k] += d;
            s2[k] += d * d;
        }
    });
    for (int64_t k = 0; k < nc; ++k) {
        const int64_t plane = n * C + c0 + k;
        const MeanVar<D> mv = MeanVar<D>::from_shifted_sums(D(HW), D(shift[k]), sum[k], sum_sq[k]);
        offset[k] = S(mv.mean - D(shift[k]));
        const S rstd = S(mv.rstd(p.eps));
        mean_out[plane] = S(mv.mean);
        rstd_out[plane] = rstd;
        a[k] = rstd * S(style_scale[plane]);
        style_b[k] = S(style_bias[plane]);
    }
    T* yn = y + n * HW * C + c0;
    for (int64_t q = 0; q < HW; ++q) {
        const S nz = kPre ? in.noise_at(n, q) : S(0);
        const T* xq = xn + q * C;
        T* __restrict yq = yn + q * C;
        for (int64_t k = 0; k < nc; ++k) yq[k] = T(((t_at(xq, nz, k) - shift[k]) - offset[k]) * a[k] + style_b[k]);
    }
}

template <typename T, bool kPre>
void forward_channels_last(const AdainParams& p, const LayerInputs<T>& in) {
    for_each_channel_block(p, [&](int64_t n, int64_t c0, int64_t nc) {
        forward_channel_block<T, kPre>(p, in, n, c0, nc);
    });
}

template <typename T, bool kPre>
SG_CPU_MULTIVERSION void backward_channel_block(const AdainParams& p, const LayerInputs<T>& in, int64_t n,
                                                int64_t c0, int64_t nc) {
    using S = at::opmath_type<T>;
    const T* grad = static_cast<const T*>(p.grad);
    const T* style_scale = static_cast<const T*>(p.style_scale);
    const S* mean_in = static_cast<const S*>(p.mean);
    const S* rstd_in = static_cast<const S*>(p.rstd);
    T* grad_x = static_cast<T*>(p.grad_x);
    T* grad_style_scale = static_cast<T*>(p.grad_style_scale);
    T* grad_style_bias = static_cast<T*>(p.grad_style_bias);
    const int64_t C = p.channels, HW = p.height * p.width;
    S coef[kChannelBlock], mean_dy[kChannelBlock], mean_dy_that[kChannelBlock];
    D sum_dy[kChannelBlock] = {}, sum_dy_that[kChannelBlock] = {};
    const S* __restrict strength = in.strength.data() + c0;
    const S* __restrict b = in.b.data() + c0;
    const S alpha = in.alpha, gain = in.gain;
    const S* __restrict mean = mean_in + n * C + c0;
    const S* __restrict rstd = rstd_in + n * C + c0;
    const T* xn = in.x + n * HW * C + c0;
    const T* gn = grad + n * HW * C + c0;
    auto that_at = [&](const T* xq, S nz, int64_t k) {
        const S t = kPre ? style_pre_op(S(xq[k]), nz, strength[k], b[k], alpha, gain) : S(xq[k]);
        return (t - mean[k]) * rstd[k];
    };
    channel_sums<S>(HW, nc, sum_dy, sum_dy_that, [&](int64_t q, S* __restrict s1, S* __restrict s2) SG_INLINE_LAMBDA {
        const S nz = kPre ? in.noise_at(n, q) : S(0);
        const T* xq = xn + q * C;
        const T* gq = gn + q * C;
        for (int64_t k = 0; k < nc; ++k) {
            const S g = S(gq[k]);
            s1[k] += g;
            s2[k] += g * that_at(xq, nz, k);
        }
    });
    for (int64_t k = 0; k < nc; ++k) {
        const int64_t plane = n * C + c0 + k;
        grad_style_scale[plane] = T(sum_dy_that[k]);
        grad_style_bias[plane] = T(sum_dy[k]);
        coef[k] = rstd[k] * S(style_scale[plane]);
        mean_dy[k] = S(sum_dy[k] / D(HW));
        mean_dy_that[k] = S(sum_dy_that[k] / D(HW));
    }
    // grad_x, and when wanted its per-plane sums alone and weighted by the noise.
    S* sums = static_cast<S*>(p.grad_x_sums);
    D sum_dx[kChannelBlock] = {}, sum_dx_noise[kChannelBlock] = {};
    T* dxn = grad_x + n * HW * C + c0;
    channel_sums<S>(HW, nc, sum_dx, sum_dx_noise, [&](int64_t q, S* __restrict s1, S* __restrict s2) SG_INLINE_LAMBDA {
        const S nz = kPre ? in.noise_at(n, q) : S(0);
        const T* xq = xn + q * C;
        const T* gq = gn + q * C;
        T* __restrict dxq = dxn + q * C;
        for (int64_t k = 0; k < nc; ++k) {
            const S slope = kPre ? style_pre_op_slope(S(xq[k]), nz, strength[k], b[k], alpha, gain) : S(1);
            const S dx = coef[k] * (S(gq[k]) - mean_dy[k] - that_at(xq, nz, k) * mean_dy_that[k]) * slope;
            dxq[k] = T(dx);
            s1[k] += dx;
            s2[k] += dx * nz;
        }
    });
    if (sums != nullptr) {
        for (int64_t k = 0; k < nc; ++k) {
            const int64_t plane = n * C + c0 + k;
            sums[2 * plane] = S(sum_dx[k]);
            sums[2 * plane + 1] = S(sum_dx_noise[k]);
        }
    }
}

template <typename T, bool kPre>
void backward_channels_last(const AdainParams& p, const LayerInputs<T>& in) {
    for_each_channel_block(p, [&](int64_t n, int64_t c0, int64_t nc) {
        backward_channel_block<T, kPre>(p, in, n, c0, nc);
    });
}

template <bool kForward>
void run_adain_cpu(const AdainParams& p) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, scalar_type_of(p.dtype), "adain_cpu", [&] {
        const LayerInputs<scalar_t> in(p);
        auto run = [&](auto pre) {
            constexpr bool kPre = decltype(pre)::value;
            if (kForward) {
                if (p.channels_last) forward_channels_last<scalar_t, kPre>(p, in);
                else forward_planes<scalar_t, kPre>(p, in);
            } else {
                if (p.channels_last) backward_channels_last<scalar_t, kPre>(p, in);
                else backward_planes<scalar_t, kPre>(p, in);
            }
        };
        if (p.pre_op) run(std::true_type{});
        else run(std::false_type{});
    });
}

using CpuOps = AdainOps<run_adain_cpu<true>, run_adain_cpu<false>, NoDeviceGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CPU, m) {
    m.impl("adain", &CpuOps::adain);
    m.impl("adain_backward", &CpuOps::adain_backward);
    m.impl("style_epilogue", &CpuOps::style_epilogue);
    m.impl("style_epilogue_backward", &CpuOps::style_epilogue_backward);
}

}  // namespace stylegan_ops
