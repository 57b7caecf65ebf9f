// bias_act on CUDA: a grid-stride loop over memory in order, 16 bytes per load and store when every pointer allows,
// element by element otherwise. The bias index of element i is (i / bias_stride) % bias_size: computed once per
// vector when bias_stride is a multiple of the vector width, incremented when the bias dimension is innermost, and
// in 32-bit arithmetic when the tensor allows.
#include <stdint.h>

#include "../common/bias_act_dispatch.h"
#include "element_types.cuh"
#include "kernel_launch.cuh"
#include "launch.cuh"

namespace stylegan_ops {
namespace {

constexpr int kThreads = 256;

template <typename I>
__device__ __forceinline__ I bias_index(I i, I stride, I size) {
    return (i / stride) % size;
}

template <typename T, Act A, BiasActMode M, typename I>
__device__ __forceinline__ void bias_act_range(const BiasActParams& p, int64_t vec_count) {
    using S = acc_t<T>;
    using V = Vec16<T>;
    constexpr int kVec = V::kSize;
    constexpr bool kReadsRef = M != BiasActMode::Forward;
    constexpr bool kUsesBias = M != BiasActMode::GradFromOutput;
    const BiasActScalars<S> sc(p);
    const T* in = static_cast<const T*>(p.in);
    const T* ref = static_cast<const T*>(p.ref);
    const T* b = kUsesBias ? static_cast<const T*>(p.b) : nullptr;
    T* out = static_cast<T*>(p.out);
    const I stride = I(p.bias_stride), size = I(p.bias_size);
    // How the bias index moves within a vector: not at all (every bias boundary is a multiple of bias_stride, hence
    // of kVec), by one per element with wrap-around (the bias dimension is innermost, as in channels_last), or in
    // general, element by element.
    const bool bias_per_vector = b != nullptr && (p.bias_size == 1 || p.bias_stride % kVec == 0);
    const bool bias_innermost = b != nullptr && !bias_per_vector && p.bias_stride == 1;
    const int64_t step = int64_t(gridDim.x) * blockDim.x;
    const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;

    for (int64_t v = first; v < vec_count; v += step) {
        const V x = reinterpret_cast<const V*>(in)[v];
        V r;
        if constexpr (kReadsRef) r = reinterpret_cast<const V*>(ref)[v];
        const I i0 = I(v) * I(kVec);
        S bias_v = S(0);
        I c = 0;
        if (bias_per_vector) bias_v = to_acc(b[bias_index(i0, stride, size)]);
        if (bias_innermost) c = i0 % size;
        V y;
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
            S bias = bias_v;
            if (bias_innermost) {
                bias = to_acc(b[c]);
                c = (c + 1 == size) ? I(0) : I(c + 1);
            } else if (b != nullptr && !bias_per_vector) {
                bias = to_acc(b[bias_index(I(i0 + I(k)), stride, size)]);
            }
            const S rk = kReadsRef ? to_acc(r.v[k]) : S(0);
            y.v[k] = from_acc<T>(bias_act_element<A, M, S>(to_acc(x.v[k]), rk, bias, sc));
        }
        reinterpret_cast<V*>(out)[v] = y;
    }
    for (int64_t i = vec_count * kVec + first; i < p.numel; i += step) {
        const S bias = (b != nullptr) ? to_acc(b[bias_index(I(i), stride, size)]) : S(0);
        const S rk = kReadsRef ? to_acc(ref[i]) : S(0);
        out[i] = from_acc<T>(bias_act_element<A, M, S>(to_acc(in[i]), rk, bias, sc));
    }
}

template <typename T, Act A, BiasActMode M>
__global__ void __launch_bounds__(kThreads, 4) bias_act_kernel(BiasActParams p, int64_t vec_count) {
    if (p.numel <= int64_t(UINT32_MAX)) bias_act_range<T, A, M, uint32_t>(p, vec_count);
    else bias_act_range<T, A, M, uint64_t>(p, vec_count);
}

}  // namespace

cudaError_t launch_bias_act(const BiasActParams& p, cudaStream_t stream) {
    if (p.numel == 0) return cudaSuccess;
    return dispatch_dtype(p.dtype, [&](auto type_tag) -> cudaError_t {
        using T = decltype(type_tag);
        constexpr int kVec = Vec16<T>::kSize;
        const bool vectorize = aligned16(p.in) && (p.ref == nullptr || aligned16(p.ref)) && aligned16(p.out);
        const int64_t vec_count = vectorize ? p.numel / kVec : 0;
        const unsigned int blocks = grid_size(vectorize ? vec_count : p.numel, kThreads, 16);
        cudaError_t err = cudaErrorInvalidValue;  // stays so for a combination without a kernel
        dispatch_bias_act(p.act, p.mode, [&](auto act, auto mode) {
            err = launch_kernel(bias_act_kernel<T, decltype(act)::value, decltype(mode)::value>, blocks, kThreads,
                                stream, p, vec_count);
        });
        return err;
    });
}

}  // namespace stylegan_ops
