// noise_bias_act's CUDA registration: the shared C++ front end and a runner that launches on the current stream.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../noise_bias_act_impl.h"
#include "launch.cuh"

namespace stylegan_ops {
namespace {

void run_noise_bias_act_cuda(const NoiseBiasActParams& p) {
    const cudaError_t err = launch_noise_bias_act(p, c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(err == cudaSuccess, "noise_bias_act: CUDA kernel launch failed: ", cudaGetErrorString(err));
}

using CudaOps = NoiseBiasActOps<run_noise_bias_act_cuda, c10::cuda::CUDAGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CUDA, m) { m.impl("noise_bias_act", &CudaOps::forward); }

}  // namespace stylegan_ops
