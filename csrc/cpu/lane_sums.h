// Vectorized floating-point sums for the CPU kernels. A compiler keeps a single floating-point sum in order, so it
// does not vectorize `s += v[i]`; these sums run 16 independent lanes in a vector type instead (GCC and clang vector
// extensions: native vectors in each function-multiversioning clone), and add the lanes at the end.
#pragma once

#include <stdint.h>

#include <cstring>
#include <type_traits>

namespace stylegan_ops {

constexpr int kSumLanes = 16;

#if defined(__GNUC__)
// Vector types of 16, 8 and 4 lanes.
template <typename S>
struct Lanes;
template <>
struct Lanes<float> {
    typedef float v16 __attribute__((vector_size(16 * sizeof(float))));
    typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
    typedef float v4 __attribute__((vector_size(4 * sizeof(float))));
};
template <>
struct Lanes<double> {
    typedef double v16 __attribute__((vector_size(16 * sizeof(double))));
    typedef double v8 __attribute__((vector_size(8 * sizeof(double))));
    typedef double v4 __attribute__((vector_size(4 * sizeof(double))));
};
static_assert(kSumLanes == 16, "Lanes<S>::v16 holds the partial sums");

// The sum of the 16 lanes of v, by halving: two vector adds and three scalar ones.
template <typename S>
inline S sum_lanes(const typename Lanes<S>::v16& v) {
    using V8 = typename Lanes<S>::v8;
    using V4 = typename Lanes<S>::v4;
    V8 lo8, hi8;
    std::memcpy(&lo8, &v, sizeof(V8));
    std::memcpy(&hi8, reinterpret_cast<const char*>(&v) + sizeof(V8), sizeof(V8));
    const V8 s8 = lo8 + hi8;
    V4 lo4, hi4;
    std::memcpy(&lo4, &s8, sizeof(V4));
    std::memcpy(&hi4, reinterpret_cast<const char*>(&s8) + sizeof(V4), sizeof(V4));
    const V4 s4 = lo4 + hi4;
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}
#endif

// The sums of (v[i] - shift) and (v[i] - shift)^2 over i < n.
template <typename S>
inline void shifted_sums(const S* __restrict v, int64_t n, S shift, S& sum, S& sum_sq) {
    S r1 = 0, r2 = 0;
    int64_t i = 0;
#if defined(__GNUC__)
    using V = typename Lanes<S>::v16;  // never passed by value: no ABI question
    V a = {}, b = {};
    for (; i + kSumLanes <= n; i += kSumLanes) {
        V x;
        std::memcpy(&x, v + i, sizeof(x));
        const V d = x - shift;
        a += d;
        b += d * d;
    }
    r1 = sum_lanes<S>(a);
    r2 = sum_lanes<S>(b);
#endif
    for (; i < n; ++i) {
        const S d = v[i] - shift;
        r1 += d;
        r2 += d * d;
    }
    sum = r1;
    sum_sq = r2;
}

// The sums of g[i] and g[i] * w[i] over i < n, g converted to S.
template <typename T, typename S>
inline void weighted_sums(const T* __restrict g, const S* __restrict w, int64_t n, S& sum, S& sum_weighted) {
    S r1 = 0, r2 = 0;
    int64_t i = 0;
#if defined(__GNUC__)
    using V = typename Lanes<S>::v16;
    V a = {}, b = {};
    for (; i + kSumLanes <= n; i += kSumLanes) {
        V gv, wv;
        if constexpr (std::is_same_v<S, T>) {
            std::memcpy(&gv, g + i, sizeof(gv));
        } else {
            for (int j = 0; j < kSumLanes; ++j) gv[j] = S(g[i + j]);
        }
        std::memcpy(&wv, w + i, sizeof(wv));
        a += gv;
        b += gv * wv;
    }
    r1 = sum_lanes<S>(a);
    r2 = sum_lanes<S>(b);
#endif
    for (; i < n; ++i) {
        const S gi = S(g[i]);
        r1 += gi;
        r2 += gi * w[i];
    }
    sum = r1;
    sum_weighted = r2;
}

}  // namespace stylegan_ops
