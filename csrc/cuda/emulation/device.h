// Emulated CUDA (test-only build): what nvcc gives device code, for csrc/cuda/*.cu compiled as host C++.
//
// A launch runs its blocks one after another on the calling thread. Each thread of a block is a fiber with its own
// stack; __syncthreads() is a real barrier: a thread that reaches it yields, and the block's threads resume once
// every one has reached it. Between barriers the threads run one at a time, in ascending order in one phase and
// descending in the next (and the first phase's order alternates from launch to launch), so that a missing barrier
// lets a thread read shared or global memory that another has not written yet (or has already overwritten). __shared__ variables are static: one copy per kernel, which the
// blocks share one after another as the blocks of a multiprocessor do. README.md lists what is not modelled.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

namespace stylegan_ops {
namespace emulation {

const uint3& thread_index();
const uint3& block_index();
const dim3& block_dim();
const dim3& grid_dim();
void sync_threads();

// Runs `thread_body` for every thread of every block of the grid; returns cudaErrorInvalidConfiguration for a grid
// or block the device would refuse, and cudaErrorLaunchFailure (after a line on stderr) when the threads of a block
// disagree about a __syncthreads() (some wait at it while others have returned).
cudaError_t launch(dim3 grid, dim3 block, const std::function<void()>& thread_body);

}  // namespace emulation
}  // namespace stylegan_ops

#define threadIdx (::stylegan_ops::emulation::thread_index())
#define blockIdx (::stylegan_ops::emulation::block_index())
#define blockDim (::stylegan_ops::emulation::block_dim())
#define gridDim (::stylegan_ops::emulation::grid_dim())
#define __syncthreads() ::stylegan_ops::emulation::sync_threads()
