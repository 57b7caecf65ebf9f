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

// Floor division and the matching non-negative remainder for a positive divisor.
SG_HD int floor_div(int a, int b) { return (a >= 0) ? a / b : -((-a + b - 1) / b); }
SG_HD int floor_mod(int a, int b) { return a - floor_div(a, b) * b; }

}  // namespace stylegan_ops
