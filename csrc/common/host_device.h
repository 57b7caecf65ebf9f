// Helpers for code shared by the CPU kernels (compiled by the host compiler) and the CUDA kernels (nvcc).
// Only the C/C++ standard library and CUDA headers may be included from csrc/common.
#pragma once

#include <math.h>

#if defined(__CUDACC__)
#define SG_HD __host__ __device__ __forceinline__
#else
#define SG_HD inline
#endif

namespace stylegan_ops {

// Elementary functions for the accumulation types, callable from host and device code alike.
template <typename S> struct Math;

template <> struct Math<float> {
    static SG_HD float exp(float x) { return expf(x); }
    static SG_HD float expm1(float x) { return expm1f(x); }
    static SG_HD float log1p(float x) { return log1pf(x); }
    static SG_HD float tanh(float x) { return tanhf(x); }
    static SG_HD float sqrt(float x) { return sqrtf(x); }
};

template <> struct Math<double> {
    static SG_HD double exp(double x) { return ::exp(x); }
    static SG_HD double expm1(double x) { return ::expm1(x); }
    static SG_HD double log1p(double x) { return ::log1p(x); }
    static SG_HD double tanh(double x) { return ::tanh(x); }
    static SG_HD double sqrt(double x) { return ::sqrt(x); }
};

// a * b rounded on its own, never fused into a following add: device code uses the non-contracting intrinsics, host
// code is built with -ffp-contract=off. Kernels that compute a value in two passes rely on getting the same bits,
// and CPU and CUDA results then agree to the bit for these expressions.
template <typename S>
SG_HD S mul_rn(S a, S b) {
#if defined(__CUDA_ARCH__)
    if constexpr (sizeof(S) == sizeof(float)) return __fmul_rn(a, b);
    else return __dmul_rn(a, b);
#else
    return a * b;
#endif
}

// Floor division and the matching non-negative remainder for a positive divisor.
SG_HD int floor_div(int a, int b) { return (a >= 0) ? a / b : -((-a + b - 1) / b); }
SG_HD int floor_mod(int a, int b) { return a - floor_div(a, b) * b; }

}  // namespace stylegan_ops
