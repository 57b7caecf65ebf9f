// Emulated CUDA (test-only build): __half with the conversions our kernels use, rounding to nearest even as the
// device does. Like the real header under __CUDA_NO_HALF_OPERATORS__ (which torch's build sets), no arithmetic.
#pragma once

#include <math.h>
#include <stdint.h>

#include "float_bits.h"

struct __half {
    uint16_t bits;
};

inline float __half2float(__half h) {
    const uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
    const uint32_t exponent = (h.bits >> 10) & 0x1fu, mantissa = h.bits & 0x3ffu;
    float magnitude;
    if (exponent == 0x1f) {
        magnitude = mantissa ? NAN : INFINITY;
    } else if (exponent == 0) {
        magnitude = ldexpf(float(mantissa), -24);  // subnormal (or zero)
    } else {
        magnitude = ldexpf(float(mantissa | 0x400u), int(exponent) - 25);
    }
    return sg_emulation_bits_float(sg_emulation_float_bits(magnitude) | sign);
}

inline __half __float2half_rn(float f) {
    const uint32_t x = sg_emulation_float_bits(f);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
    const uint32_t magnitude = x & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return __half{uint16_t(sign | 0x7e00u)};   // NaN
    if (magnitude >= 0x477ff000u) return __half{uint16_t(sign | 0x7c00u)};  // 65520 and up round to inf
    if (magnitude < 0x38800000u) {  // below 2^-14: subnormal half, in units of 2^-24 rounded to even
        return __half{uint16_t(sign | uint16_t(nearbyintf(sg_emulation_bits_float(magnitude) * 16777216.0f)))};
    }
    const uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);  // ties to even at bit 13
    return __half{uint16_t(sign | ((rounded - 0x38000000u) >> 13))};          // exponent bias 127 -> 15
}
