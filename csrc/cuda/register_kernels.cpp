// Registration of our CUDA kernels: each op's shared front end (csrc/*_impl.h: checks, layout, parameter block) runs
// its kernel through run_kernel, which launches on the current stream and turns a failed launch into an error that
// names the op. The emulated build (tests only, emulation/README.md) compiles this same file for the CPU dispatch key,
// with the kernels compiled for the host.
#include <torch/library.h>

#include "../bias_act_impl.h"
#include "../adain_impl.h"
#include "../filtered_lrelu_impl.h"
#include "../noise_bias_act_impl.h"
#include "../upfirdn2d_impl.h"
#include "launch.cuh"

#if STYLEGAN_OPS_EMULATED_CUDA
#define SG_KERNEL_DISPATCH_KEY CPU
#else
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define SG_KERNEL_DISPATCH_KEY CUDA
#endif

namespace stylegan_ops {
namespace {

#if STYLEGAN_OPS_EMULATED_CUDA
using KernelGuard = NoDeviceGuard;
constexpr c10::DeviceType kKernelDevice = c10::kCPU;
cudaStream_t current_stream() { return nullptr; }
#else
using KernelGuard = c10::cuda::CUDAGuard;
constexpr c10::DeviceType kKernelDevice = c10::kCUDA;
cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream(); }
#endif

template <typename Params>
using LaunchFn = cudaError_t (*)(const Params&, cudaStream_t);

// The front ends' runner for one kernel: launch on the current stream (the guard has made the inputs' device
// current), fail with the op's name when the launch fails.
template <const char* kOp, typename Params, LaunchFn<Params> kLaunch>
void run_kernel(const Params& p) {
    const cudaError_t err = kLaunch(p, current_stream());
    TORCH_CHECK(err == cudaSuccess, kOp, ": CUDA kernel launch failed: ", cudaGetErrorString(err));
}

// The adain kernels take a workspace from torch's allocator on the kernels' device, in stream order.
template <cudaError_t (*kLaunch)(const AdainParams&, void*, cudaStream_t)>
cudaError_t launch_with_workspace(const AdainParams& p, cudaStream_t stream) {
    const at::Tensor workspace = at::empty({int64_t(adain_workspace_bytes(p))},
                                           at::TensorOptions().dtype(at::kByte).device(kKernelDevice));
    return kLaunch(p, workspace.mutable_data_ptr(), stream);
}

constexpr char kBiasAct[] = "bias_act";
constexpr char kUpfirdn2d[] = "upfirdn2d";
constexpr char kNoiseBiasAct[] = "noise_bias_act";
constexpr char kAdainForward[] = "adain forward";
constexpr char kAdainBackward[] = "adain backward";
constexpr char kFilteredLrelu[] = "filtered_lrelu";

using BiasActKernels = BiasActOps<run_kernel<kBiasAct, BiasActParams, launch_bias_act>, KernelGuard>;
using FilteredLreluKernels =
    FilteredLreluOps<run_kernel<kFilteredLrelu, FilteredLreluParams, launch_filtered_lrelu>, KernelGuard>;
using Upfirdn2dKernels = Upfirdn2dOps<run_kernel<kUpfirdn2d, Upfirdn2dParams, launch_upfirdn2d>, KernelGuard>;
using NoiseBiasActKernels =
    NoiseBiasActOps<run_kernel<kNoiseBiasAct, NoiseBiasActParams, launch_noise_bias_act>, KernelGuard>;
using AdainKernels = AdainOps<
    run_kernel<kAdainForward, AdainParams, launch_with_workspace<launch_adain_forward>>,
    run_kernel<kAdainBackward, AdainParams, launch_with_workspace<launch_adain_gradients>>,
    KernelGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, SG_KERNEL_DISPATCH_KEY, m) {
    m.impl("bias_act", &BiasActKernels::forward);
    m.impl("bias_act_grad_from_output", &BiasActKernels::grad_from_output);
    m.impl("bias_act_grad_from_input", &BiasActKernels::grad_from_input);
    m.impl("upfirdn2d", &Upfirdn2dKernels::forward);
    m.impl("noise_bias_act", &NoiseBiasActKernels::forward);
    m.impl("adain", &AdainKernels::adain);
    m.impl("adain_backward", &AdainKernels::adain_backward);
    m.impl("style_epilogue", &AdainKernels::style_epilogue);
    m.impl("style_epilogue_backward", &AdainKernels::style_epilogue_backward);
    m.impl("filtered_lrelu", &FilteredLreluKernels::forward);
    m.impl("filtered_lrelu_signed", &FilteredLreluKernels::signed_forward);
}

}  // namespace stylegan_ops
