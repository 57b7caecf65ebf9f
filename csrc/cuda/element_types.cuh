// Element types on the device: the accumulation type of each storage type and the conversions between them.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "../common/dtype.h"

namespace stylegan_ops {

template <typename T> struct AccumulateType { using type = float; };
template <> struct AccumulateType<double> { using type = double; };
template <typename T> using acc_t = typename AccumulateType<T>::type;

__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }

template <typename T> __device__ __forceinline__ T from_acc(acc_t<T> v);
template <> __device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ float from_acc<float>(float v) { return v; }
template <> __device__ __forceinline__ double from_acc<double>(double v) { return v; }

// 16 bytes of T: the unit of vectorized loads and stores.
template <typename T>
struct alignas(16) Vec16 {
    static constexpr int kSize = 16 / sizeof(T);
    T v[kSize];
};

inline bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// Calls f(T{}) with the storage type of `dtype`.
template <typename F>
cudaError_t dispatch_dtype(DType dtype, F&& f) {
    switch (dtype) {
        case DType::Float16: return f(__half{});
        case DType::BFloat16: return f(__nv_bfloat16{});
        case DType::Float32: return f(float{});
        case DType::Float64: return f(double{});
    }
    return cudaErrorInvalidValue;
}

// An attribute of the current device, read once per device (the first 64 devices; others on every call).
template <cudaDeviceAttr kAttr>
inline int device_attribute() {
    constexpr int kCached = 64;
    static int values[kCached] = {};  // 0: not read yet; concurrent first reads store the same value
    int device = 0, value = 0;
    cudaGetDevice(&device);
    const bool cached = device >= 0 && device < kCached;
    if (cached && values[device] > 0) return values[device];
    cudaDeviceGetAttribute(&value, kAttr, device);
    value = value > 0 ? value : 1;
    if (cached) values[device] = value;
    return value;
}

inline int multiprocessor_count() { return device_attribute<cudaDevAttrMultiProcessorCount>(); }

// Enough blocks of `threads` to keep every multiprocessor of the current device busy for `work` items.
inline unsigned int grid_size(long long work, int threads, int blocks_per_sm) {
    const int sms = multiprocessor_count();
    long long needed = (work + threads - 1) / threads;
    long long cap = (long long)sms * blocks_per_sm;
    long long blocks = needed < cap ? needed : cap;
    return (unsigned int)(blocks < 1 ? 1 : blocks);
}

}  // namespace stylegan_ops
