// noise_bias_act on CUDA: a grid-stride loop over memory in order, 16 bytes per load and store when the pointers and
// the layout allow (NCHW planes or channels_last pixels a multiple of the vector width), element by element
// otherwise. A vector never straddles a plane (NCHW) or a pixel (channels_last), so its channel and noise positions
// are found once.
#include <stdint.h>

#include "../common/bias_act_dispatch.h"
#include "../common/noise_bias_act.h"
#include "element_types.cuh"
#include "kernel_launch.cuh"
#include "launch.cuh"
#include "position.cuh"

namespace stylegan_ops {
namespace {

constexpr int kThreads = 256;

template <typename T, Act A, typename I>
__device__ __forceinline__ void noise_bias_act_range(const NoiseBiasActParams& p, int64_t vec_count) {
    using S = acc_t<T>;
    using V = Vec16<T>;
    constexpr int kVec = V::kSize;
    const BiasActScalars<S> sc(activation_params(p));
    const T* x = static_cast<const T*>(p.x);
    const T* noise = static_cast<const T*>(p.noise);
    const T* strength = static_cast<const T*>(p.noise_strength);
    const T* b = static_cast<const T*>(p.b);
    T* y = static_cast<T*>(p.y);
    const I channels = I(p.channels), hw = I(p.height * p.width);
    const int64_t numel = p.batch * p.channels * p.height * p.width;
    const int64_t step = int64_t(gridDim.x) * blockDim.x;
    const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;

    auto element = [&](S xv, I n, I c, I pixel) {
        S v = xv;
        if (noise != nullptr) {
            const S nz = to_acc(noise[int64_t(n) * p.noise_batch_stride + pixel]);
            v += mul_rn(to_acc(strength[p.noise_strength_per_channel ? c : I(0)]), nz);  // the CPU's rounding
        }
        const S bias = b != nullptr ? to_acc(b[c]) : S(0);
        return from_acc<T>(bias_act_element<A, BiasActMode::Forward, S>(v, S(0), bias, sc));
    };

    for (int64_t vi = first; vi < vec_count; vi += step) {
        const V xv = reinterpret_cast<const V*>(x)[vi];
        const Position<I> at = position(I(vi) * I(kVec), channels, hw, p.channels_last);
        V out;
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
            // channels_last: the vector spans channels of one pixel; NCHW: pixels of one plane.
            out.v[k] = p.channels_last ? element(to_acc(xv.v[k]), at.n, at.c + I(k), at.pixel)
                                       : element(to_acc(xv.v[k]), at.n, at.c, at.pixel + I(k));
        }
        reinterpret_cast<V*>(y)[vi] = out;
    }
    for (int64_t i = vec_count * kVec + first; i < numel; i += step) {
        const Position<I> at = position(I(i), channels, hw, p.channels_last);
        y[i] = element(to_acc(x[i]), at.n, at.c, at.pixel);
    }
}

template <typename T, Act A>
__global__ void __launch_bounds__(kThreads, 4) noise_bias_act_kernel(NoiseBiasActParams p, int64_t vec_count) {
    if (p.batch * p.channels * p.height * p.width <= int64_t(UINT32_MAX))
        noise_bias_act_range<T, A, uint32_t>(p, vec_count);
    else
        noise_bias_act_range<T, A, uint64_t>(p, vec_count);
}

}  // namespace

cudaError_t launch_noise_bias_act(const NoiseBiasActParams& p, cudaStream_t stream) {
    const int64_t numel = p.batch * p.channels * p.height * p.width;
    if (numel == 0) return cudaSuccess;
    return dispatch_dtype(p.dtype, [&](auto type_tag) -> cudaError_t {
        using T = decltype(type_tag);
        constexpr int kVec = Vec16<T>::kSize;
        const int64_t run = p.channels_last ? p.channels : p.height * p.width;  // a vector stays within a run
        const bool vectorize = aligned16(p.x) && aligned16(p.y) && run % kVec == 0;
        const int64_t vec_count = vectorize ? numel / kVec : 0;
        const unsigned int blocks = grid_size(vectorize ? vec_count : numel, kThreads, 16);
        cudaError_t err = cudaErrorInvalidValue;  // stays so for an activation without a kernel
        dispatch_bias_act(p.act, BiasActMode::Forward, [&](auto act, auto) {
            err = launch_kernel(noise_bias_act_kernel<T, decltype(act)::value>, blocks, kThreads, stream, p,
                                vec_count);
        });
        return err;
    });
}

}  // namespace stylegan_ops
