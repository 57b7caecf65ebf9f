#include "launch.cuh"

namespace stylegan_ops {

int nvcc_version() { return __CUDACC_VER_MAJOR__ * 1000 + __CUDACC_VER_MINOR__ * 10; }

}  // namespace stylegan_ops
