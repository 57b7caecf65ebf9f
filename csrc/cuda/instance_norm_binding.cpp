// adain and style_epilogue's CUDA registration: the shared C++ front end, and runners that take a workspace from
// torch's caching allocator and launch on the current stream.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../instance_norm_impl.h"
#include "launch.cuh"

namespace stylegan_ops {
namespace {

using Launch = cudaError_t (*)(const InstanceNormParams&, void*, cudaStream_t);

void run(const InstanceNormParams& p, Launch launch, const char* what) {
    // The current device is the inputs' (the ops' device guard); the workspace lives there, in stream order.
    const at::Tensor workspace = at::empty({int64_t(instance_norm_workspace_bytes(p))},
                                           at::TensorOptions().dtype(at::kByte).device(at::kCUDA));
    const cudaError_t err = launch(p, workspace.mutable_data_ptr(), c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(err == cudaSuccess, what, ": CUDA kernel launch failed: ", cudaGetErrorString(err));
}

void run_forward_cuda(const InstanceNormParams& p) { run(p, launch_instance_norm_forward, "instance norm forward"); }
void run_backward_cuda(const InstanceNormParams& p) { run(p, launch_instance_norm_backward, "instance norm backward"); }

using CudaOps = InstanceNormOps<run_forward_cuda, run_backward_cuda, c10::cuda::CUDAGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CUDA, m) {
    m.impl("adain", &CudaOps::adain);
    m.impl("adain_backward", &CudaOps::adain_backward);
    m.impl("style_epilogue", &CudaOps::style_epilogue);
    m.impl("style_epilogue_backward", &CudaOps::style_epilogue_backward);
}

}  // namespace stylegan_ops
