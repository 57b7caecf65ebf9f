// The one way our launchers start a kernel: launch_kernel(kernel, grid, block, stream, args...) is
// kernel<<<grid, block, 0, stream>>>(args...) followed by the launch's status. In the emulated build (tests only,
// STYLEGAN_OPS_EMULATED_CUDA, see emulation/README.md) the same kernel runs on the CPU, thread by thread.
#pragma once

#include <cuda_runtime_api.h>

#include <utility>

#if STYLEGAN_OPS_EMULATED_CUDA
#include "emulation/device.h"
#endif

namespace stylegan_ops {

template <typename... Params, typename... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args&&... args) {
#if STYLEGAN_OPS_EMULATED_CUDA
    (void)stream;
    return emulation::launch(grid, block, [&] { kernel(args...); });
#else
    kernel<<<grid, block, 0, stream>>>(std::forward<Args>(args)...);
    return cudaGetLastError();
#endif
}

}  // namespace stylegan_ops
