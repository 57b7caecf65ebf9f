// Emulated CUDA (test-only build): a float's bits and back, for the half-precision conversions.
#pragma once

#include <stdint.h>
#include <string.h>

inline uint32_t sg_emulation_float_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    return x;
}

inline float sg_emulation_bits_float(uint32_t x) {
    float f;
    memcpy(&f, &x, sizeof(f));
    return f;
}
