// Element types the kernels are instantiated for, named without torch so that the CUDA sources stay torch-free.
#pragma once

namespace stylegan_ops {

enum class DType : int { Float16 = 0, BFloat16, Float32, Float64 };

}  // namespace stylegan_ops
