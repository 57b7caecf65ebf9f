// The Python module stylegan_ops._C: importing it loads the library, which registers the ops; it also reports how
// the library was built.
#include <torch/extension.h>

#include <string>

#ifndef STYLEGAN_OPS_WITH_CUDA
#define STYLEGAN_OPS_WITH_CUDA 0
#endif
#ifndef STYLEGAN_OPS_EMULATED_CUDA
#define STYLEGAN_OPS_EMULATED_CUDA 0
#endif
#ifndef STYLEGAN_OPS_CUDA_ARCH_LIST
#define STYLEGAN_OPS_CUDA_ARCH_LIST ""
#endif
#ifndef STYLEGAN_OPS_DEBUG
#define STYLEGAN_OPS_DEBUG 0
#endif
#ifndef STYLEGAN_OPS_TORCH_VERSION
#define STYLEGAN_OPS_TORCH_VERSION "unknown"
#endif

#if STYLEGAN_OPS_WITH_CUDA
namespace stylegan_ops {
int nvcc_version();  // csrc/cuda/nvcc_version.cu
}
#endif

namespace {

pybind11::dict build_info() {
    pybind11::dict info;
    info["cuda"] = bool(STYLEGAN_OPS_WITH_CUDA);
    // The test-only build whose CPU kernels are the CUDA kernels compiled for the host (csrc/cuda/emulation).
    info["emulated_cuda"] = bool(STYLEGAN_OPS_EMULATED_CUDA);
    info["cuda_arch_list"] = std::string(STYLEGAN_OPS_CUDA_ARCH_LIST);
#if STYLEGAN_OPS_WITH_CUDA
    const int v = stylegan_ops::nvcc_version();
    info["nvcc"] = std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
#else
    info["nvcc"] = pybind11::none();
#endif
#if defined(__clang__)
    info["cxx"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    info["cxx"] = std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
    info["cxx"] = std::string("msvc ") + std::to_string(_MSC_VER);
#else
    info["cxx"] = std::string("unknown");
#endif
    info["debug"] = bool(STYLEGAN_OPS_DEBUG);
    info["torch"] = std::string(STYLEGAN_OPS_TORCH_VERSION);
    return info;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
    m.doc() = "Compiled kernels of stylegan_ops; the ops live in torch.ops.stylegan_ops.";
    m.def("build_info", &build_info, "How this library was built: CUDA or CPU only, arch list, compilers, debug.");
}
