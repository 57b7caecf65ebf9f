// filtered_lrelu: the plain parameter block and the per-element rules shared by the CPU and CUDA kernels.
//
// For every plane (n, c), with u = (x + b) upsampled by inserting up-1 zeros after each pixel (zero outside x):
//   t[i, j] = sum_{ky, kx} gu[ky, kx] * u[i + ky - pad_y0, j + kx - pad_x0]        (the buffer: sign_h x sign_w)
//   a[i, j] = clamp(lrelu(gain * t[i, j], slope), -clamp, clamp)                     (mode kWriteSigns / kNoSigns)
//   a[i, j] = t[i, j] * multiplier(signs[i + sign_y0, j + sign_x0])                  (mode kReadSigns: linear in x)
//   y[o, p] = sum_{ky, kx} gd[ky, kx] * a[o * down + ky, p * down + kx]
// gu and gd are the filters in correlation order (flipped unless flip_filter); gu carries the gain up * up (per axis
// up for a separable filter). A 1-D filter is separable: f ⊗ f.
//
// Signs: 2 bits per buffer element, 4 elements per byte (element j of a row in bits 2 * (j % 4)), rows of
// sign_row_bytes = ceil(sign_w / 4) bytes, planes of sign_h rows. Bit 0: the activation's input was not positive
// (the leaky slope applies); bit 1: the output was clamped (no gradient). Reading, a position outside the stored
// grid has multiplier 0: no element of the forward buffer is there.
#pragma once

#include <stdint.h>

#include "dtype.h"
#include "host_device.h"

namespace stylegan_ops {

enum class SignMode : int { kNoSigns = 0, kWriteSigns = 1, kReadSigns = 2 };

struct FilteredLreluParams {
    const void* x;
    const void* b;         // [C] in x's dtype, or null
    const void* fu;        // fu_h x fu_w (or fu_w taps when separable), contiguous, in the accumulation type
    const void* fd;
    void* y;
    uint8_t* signs;        // [N, C, sign_h, sign_row_bytes]; written (kWriteSigns, zeroed beforehand) or read
    int64_t batch, channels;
    int64_t x_stride[4];   // n, c, h, w, in elements
    int64_t y_stride[4];
    int in_h, in_w, out_h, out_w;
    int up, down;
    int pad_x0, pad_y0;
    int fu_h, fu_w, fd_h, fd_w;
    bool fu_separable, fd_separable;
    bool flip_filter;
    double gain, slope, clamp;  // clamp < 0: no clamp
    SignMode sign_mode;
    int sign_h, sign_w, sign_row_bytes;
    int sign_x0, sign_y0;  // kReadSigns: buffer (i, j) reads sign (i + sign_y0, j + sign_x0)
    DType dtype;
};

// The buffer extent along an axis: in * up + pad0 + pad1 - (fu_taps - 1).
SG_HD int64_t filtered_lrelu_buffer_size(int64_t in, int64_t up, int64_t pad0, int64_t pad1, int64_t fu_taps) {
    return in * up + pad0 + pad1 - (fu_taps - 1);
}

// The output extent along an axis: (buffer - (fd_taps - 1) + down - 1) // down, at least 0.
SG_HD int64_t filtered_lrelu_out_size(int64_t buffer, int64_t down, int64_t fd_taps) {
    const int64_t span = buffer - (fd_taps - 1);
    return span <= 0 ? 0 : (span + down - 1) / down;
}

// The forward's activation of one buffer value, with its 2-bit sign code.
template <typename S>
SG_HD S filtered_lrelu_activate(S t, S gain, S slope, S clamp, uint32_t& code) {
    S v = t * gain;
    code = 0;
    if (!(v > S(0))) {
        v = v * slope;
        code = 1;
    }
    if (clamp >= S(0) && (v > clamp || v < -clamp)) {
        v = v > clamp ? clamp : -clamp;
        code |= 2;
    }
    return v;
}

// The derivative the forward's activation had at an element with this sign code, times gain.
template <typename S>
SG_HD S filtered_lrelu_multiplier(uint32_t code, S gain, S slope) {
    return (code & 2) ? S(0) : ((code & 1) ? gain * slope : gain);
}

// The 2-bit code of buffer element (i, j) of a plane's signs, or 3 (multiplier 0) outside the stored grid.
SG_HD uint32_t filtered_lrelu_read_code(const uint8_t* plane_signs, int sign_h, int sign_row_bytes, int i, int j) {
    if (i < 0 || i >= sign_h || j < 0 || j >= sign_row_bytes * 4) return 3;
    return (plane_signs[int64_t(i) * sign_row_bytes + (j >> 2)] >> (2 * (j & 3))) & 3u;
}

// Correlation tap k of a 1-D filter of n taps, or (ky, kx) of a 2-D one: the filter flipped unless flip_filter.
template <typename S>
SG_HD S filtered_lrelu_tap(const S* f, int ky, int kx, int h, int w, bool flip_filter) {
    return flip_filter ? f[ky * w + kx] : f[(h - 1 - ky) * w + (w - 1 - kx)];
}

}  // namespace stylegan_ops
