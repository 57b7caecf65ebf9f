// Vectorized floating-point sums for the CPU kernels. A compiler keeps a single floating-point sum in order, so it
// does not vectorize `s += v[i]`; these sums run 16 independent lanes instead, as two 8-lane vectors (GCC and clang
// vector extensions: native vectors in each function-multiversioning clone), and add the lanes at the end. Two
// 8-lane vectors rather than one of 16 lanes: without AVX-512, GCC kept the 16-lane vector on the stack and every
// add went through memory (adain's forward at 16x512x8x8 ran 3.7x slower on an AVX2 CPU).
#pragma once

#include <stdint.h>

#include <cstring>
#include <type_traits>

#include "multiversion.h"

namespace stylegan_ops {

constexpr int kSumLanes = 16;

#if defined(__GNUC__)
// Vector types of 8 and 4 lanes.
template <typename S>
struct Lanes;
template <>
struct Lanes<float> {
    typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
    typedef float v4 __attribute__((vector_size(4 * sizeof(float))));
};
template <>
struct Lanes<double> {
    typedef double v8 __attribute__((vector_size(8 * sizeof(double))));
    typedef double v4 __attribute__((vector_size(4 * sizeof(double))));
};
static_assert(kSumLanes == 16, "two Lanes<S>::v8 hold the partial sums");

// The sum of the 16 lanes of lo and hi, by halving: two vector adds and three scalar ones.
template <typename S>
SG_ALWAYS_INLINE S sum_lanes(const typename Lanes<S>::v8& lo, const typename Lanes<S>::v8& hi) {
    using V8 = typename Lanes<S>::v8;
    using V4 = typename Lanes<S>::v4;
    const V8 s8 = lo + hi;
    V4 lo4, hi4;
    std::memcpy(&lo4, &s8, sizeof(V4));
    std::memcpy(&hi4, reinterpret_cast<const char*>(&s8) + sizeof(V4), sizeof(V4));
    const V4 s4 = lo4 + hi4;
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}
#endif

// The sums of (v[i] - shift) and (v[i] - shift)^2 over i < n.
template <typename S>
SG_ALWAYS_INLINE void shifted_sums(const S* __restrict v, int64_t n, S shift, S& sum, S& sum_sq) {
    S r1 = 0, r2 = 0;
    int64_t i = 0;
#if defined(__GNUC__)
    using V = typename Lanes<S>::v8;  // never passed by value: no ABI question
    V a0 = {}, a1 = {}, b0 = {}, b1 = {};
    for (; i + kSumLanes <= n; i += kSumLanes) {
        V x0, x1;
        std::memcpy(&x0, v + i, sizeof(x0));
        std::memcpy(&x1, v + i + kSumLanes / 2, sizeof(x1));
        const V d0 = x0 - shift, d1 = x1 - shift;
        a0 += d0;
        a1 += d1;
        b0 += d0 * d0;
        b1 += d1 * d1;
    }
    r1 = sum_lanes<S>(a0, a1);
    r2 = sum_lanes<S>(b0, b1);
#endif
    for (; i < n; ++i) {
        const S d = v[i] - shift;
        r1 += d;
        r2 += d * d;
    }
    sum = r1;
    sum_sq = r2;
}

// n values of v from i on into a vector of S (converted where v holds another type).
template <typename V, typename S, typename T>
SG_ALWAYS_INLINE void load_lanes(V& out, const T* __restrict v) {
    if constexpr (std::is_same_v<S, T>) {
        std::memcpy(&out, v, sizeof(out));
    } else {
        for (int j = 0; j < kSumLanes / 2; ++j) out[j] = S(v[j]);
    }
}

// The sums of g[i] and g[i] * w[i] over i < n, g and w converted to S.
template <typename S, typename G, typename W>
SG_ALWAYS_INLINE void weighted_sums(const G* __restrict g, const W* __restrict w, int64_t n, S& sum,
                                    S& sum_weighted) {
    S r1 = 0, r2 = 0;
    int64_t i = 0;
#if defined(__GNUC__)
    using V = typename Lanes<S>::v8;
    constexpr int kHalf = kSumLanes / 2;
    V a0 = {}, a1 = {}, b0 = {}, b1 = {};
    for (; i + kSumLanes <= n; i += kSumLanes) {
        V g0, g1, w0, w1;
        load_lanes<V, S>(g0, g + i);
        load_lanes<V, S>(g1, g + i + kHalf);
        load_lanes<V, S>(w0, w + i);
        load_lanes<V, S>(w1, w + i + kHalf);
        a0 += g0;
        a1 += g1;
        b0 += g0 * w0;
        b1 += g1 * w1;
    }
    r1 = sum_lanes<S>(a0, a1);
    r2 = sum_lanes<S>(b0, b1);
#endif
    for (; i < n; ++i) {
        const S gi = S(g[i]);
        r1 += gi;
        r2 += gi * S(w[i]);
    }
    sum = r1;
    sum_weighted = r2;
}

}  // namespace stylegan_ops
