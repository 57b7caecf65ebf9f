// upfirdn2d's CUDA registration: the shared C++ front end (checks, shape, passes) and a runner that launches the
// kernel on the current stream and checks the launch.
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../upfirdn2d_impl.h"
#include "launch.cuh"

namespace stylegan_ops {
namespace {

void run_upfirdn2d_cuda(const Upfirdn2dParams& p) {
    const cudaError_t err = launch_upfirdn2d(p, c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(err == cudaSuccess, "upfirdn2d: CUDA kernel launch failed: ", cudaGetErrorString(err));
}

using CudaOps = Upfirdn2dOps<run_upfirdn2d_cuda, c10::cuda::CUDAGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CUDA, m) { m.impl("upfirdn2d", &CudaOps::forward); }

}  // namespace stylegan_ops
