// Emulated CUDA (test-only build): __nv_bfloat16 with the conversions our kernels use (round to nearest even, NaN
// kept quiet). No arithmetic, as under __CUDA_NO_BFLOAT16_CONVERSIONS__ and friends.
#pragma once

#include <stdint.h>

#include "float_bits.h"

struct __nv_bfloat16 {
    uint16_t bits;
};

inline float __bfloat162float(__nv_bfloat16 h) { return sg_emulation_bits_float(uint32_t(h.bits) << 16); }

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    const uint32_t x = sg_emulation_float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{uint16_t((x >> 16) | 0x40u)};
    return __nv_bfloat16{uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16)};
}
