// Entry points of the CUDA kernels, callable from C++ that does not see CUDA device code (register_kernels.cpp).
// Each launches on `stream` and returns the launch's error status.
#pragma once

#include <cuda_runtime_api.h>

#include <stddef.h>

#include "../common/bias_act.h"
#include "../common/filtered_lrelu.h"
#include "../common/adain.h"
#include "../common/noise_bias_act.h"
#include "../common/upfirdn2d.h"

namespace stylegan_ops {

cudaError_t launch_bias_act(const BiasActParams& p, cudaStream_t stream);
cudaError_t launch_upfirdn2d(const Upfirdn2dParams& p, cudaStream_t stream);
cudaError_t launch_noise_bias_act(const NoiseBiasActParams& p, cudaStream_t stream);
cudaError_t launch_filtered_lrelu(const FilteredLreluParams& p, cudaStream_t stream);

// adain / style_epilogue: the caller provides adain_workspace_bytes(p) bytes of device memory.
size_t adain_workspace_bytes(const AdainParams& p);
cudaError_t launch_adain_forward(const AdainParams& p, void* workspace, cudaStream_t stream);
cudaError_t launch_adain_gradients(const AdainParams& p, void* workspace, cudaStream_t stream);

// nvcc's version as major * 1000 + minor * 10.
int nvcc_version();

}  // namespace stylegan_ops
