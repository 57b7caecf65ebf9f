// adain and style_epilogue: instance normalization of each (n, c) plane with a per-plane style scale and bias,
// optionally after StyleGAN's layer tail (noise, bias b, lrelu, gain). Shared by the CPU and CUDA kernels.
//
//   t = x                                                                    (adain)
//   t = lrelu(x + noise_strength[c] * noise[n, h, w] + b[c], alpha) * gain   (style_epilogue: the "pre-op")
//   y = (t - mean(t)) * rstd * style_scale[n, c] + style_bias[n, c],    rstd = 1 / sqrt(var(t) + eps)
//
// mean and var are over the plane's H*W pixels (var is the biased, population variance). Backward, with
// that = (t - mean) * rstd and sums over the plane:
//   grad_style_scale = sum(dy * that),  grad_style_bias = sum(dy)
//   dt = rstd * style_scale * (dy - grad_style_bias / HW - that * grad_style_scale / HW)
//   grad_x = dt (adain), or dt * gain * (s > 0 ? 1 : alpha) with s = x + noise_strength * noise + b (style_epilogue)
// The gradients of noise, noise_strength and b follow from grad_x by sums. style_epilogue's backward also returns
// two of them per plane, sum(grad_x) and sum(grad_x * noise), which summed over the images are the gradients of b
// and of a per-channel noise_strength: no pass over grad_x for them in the common case (the gradient of the noise
// itself, a sum over channels, stays outside the kernels).
#pragma once

#include <stdint.h>

#include "dtype.h"
#include "host_device.h"

namespace stylegan_ops {

struct AdainParams {
    // Inputs. x, y, grad and grad_x are [N, C, H, W], all NCHW-contiguous or all channels_last.
    const void* x;
    const void* noise;           // [N, 1, H, W], or null
    const void* noise_strength;  // 1 or C values; null when noise is
    const void* b;               // C values, or null
    const void* style_scale;     // [N, C], contiguous
    const void* style_bias;      // [N, C], contiguous (forward only)
    const void* grad;            // backward: the gradient of y
    // Per-plane statistics, in the accumulation type: written by the forward, read by the backward.
    void* mean;
    void* rstd;
    // Outputs.
    void* y;                 // forward
    void* grad_x;            // backward
    void* grad_style_scale;  // backward, [N, C] in the dtype of x
    void* grad_style_bias;   // backward, [N, C] in the dtype of x
    void* grad_x_sums;       // backward: per plane sum(grad_x) and sum(grad_x * noise) ([N, C, 2] in the accumulation
                             // type; the second 0 without noise), or null when not wanted
    int64_t batch, channels, height, width;
    int64_t noise_batch_stride;  // noise planes are contiguous H*W; image n's starts at n * noise_batch_stride
    bool noise_strength_per_channel;
    bool pre_op;  // style_epilogue's tail before the normalization
    bool channels_last;
    double alpha, gain, eps;
    DType dtype;
};

// s = x + strength * noise + b, rounded the same way on every device and in every kernel (mul_rn): the kernels
// compute t in two passes and rely on getting the same bits, e.g. a constant plane must normalize to exactly zero.
template <typename S>
SG_HD S style_pre_op_input(S x, S noise, S strength, S b) {
    return x + mul_rn(strength, noise) + b;
}

// The pre-op on one element, in the accumulation type S: t from x and the plane's noise value, noise strength and b.
template <typename S>
SG_HD S style_pre_op(S x, S noise, S strength, S b, S alpha, S gain) {
    const S s = style_pre_op_input(x, noise, strength, b);
    return ((s > S(0)) ? s : s * alpha) * gain;
}

// dt/ds of the pre-op at s = x + strength * noise + b.
template <typename S>
SG_HD S style_pre_op_slope(S x, S noise, S strength, S b, S alpha, S gain) {
    const S s = style_pre_op_input(x, noise, strength, b);
    return (s > S(0)) ? gain : gain * alpha;
}

// sum(grad_x * w) over a plane (w = 1, or w = noise) without reading grad_x, from sums of the backward's first
// pass: grad_x = coef * (dy - mean_dy - that * mean_dy_that) * slope, so the sum is
// coef * (sum(dy * slope * w) - mean_dy * sum(slope * w) - mean_dy_that * sum(that * slope * w)).
template <typename S>
SG_HD S grad_x_sum(S coef, S mean_dy, S mean_dy_that, S dy_slope_w, S slope_w, S that_slope_w) {
    return coef * (dy_slope_w - mean_dy * slope_w - mean_dy_that * that_slope_w);
}

// Running statistics of a set of values (count, mean, sum of squared deviations), merged with Chan et al.'s
// pairwise formula so that partial results combine stably in any fixed order.
template <typename S>
struct MeanVar {
    S count, mean, m2;

    SG_HD static MeanVar empty() { return MeanVar{S(0), S(0), S(0)}; }

    // From the sums of (v - shift) and (v - shift)^2 over `count` values.
    SG_HD static MeanVar from_shifted_sums(S count, S shift, S sum, S sum_sq) {
        if (count == S(0)) return empty();
        const S d = sum / count;
        const S m2 = sum_sq - sum * d;
        return MeanVar{count, shift + d, m2 < S(0) ? S(0) : m2};  // rounding can go below 0; NaN stays NaN
    }

    SG_HD MeanVar merge(const MeanVar& o) const {
        const S n = count + o.count;
        if (o.count == S(0)) return *this;
        if (count == S(0)) return o;
        const S delta = o.mean - mean;
        const S w = o.count / n;
        return MeanVar{n, mean + delta * w, m2 + o.m2 + delta * delta * count * w};
    }

    // 1 / sqrt(variance + eps), in double so that an eps below the float range still counts; a constant plane
    // gives 1 / sqrt(eps), never NaN (a plane holding NaN or inf gives NaN, as the reference does).
    SG_HD S rstd(double eps) const { return S(rstd_of_variance(count > S(0) ? double(m2 / count) : 0.0, eps)); }

    SG_HD static double rstd_of_variance(double var, double eps) { return 1.0 / Math<double>::sqrt(var + eps); }
};

}  // namespace stylegan_ops
