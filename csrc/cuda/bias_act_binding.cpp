// bias_act's CUDA registration: the shared C++ front end (checks, layout, params) and a runner that launches the
// kernel on the current stream and checks the launch.
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../bias_act_impl.h"
#include "launch.cuh"

namespace stylegan_ops {
namespace {

void run_bias_act_cuda(const BiasActParams& p) {
    const cudaError_t err = launch_bias_act(p, c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(err == cudaSuccess, "bias_act: CUDA kernel launch failed: ", cudaGetErrorString(err));
}

using CudaOps = BiasActOps<run_bias_act_cuda, c10::cuda::CUDAGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CUDA, m) {
    m.impl("bias_act", &CudaOps::forward);
    m.impl("bias_act_grad_from_output", &CudaOps::grad_from_output);
    m.impl("bias_act_grad_from_input", &CudaOps::grad_from_input);
}

}  // namespace stylegan_ops
