// conv3x3's CUDA registration: cuDNN's convolution (which picks its own algorithm, Winograd among them), behind the
// same checks and output layout as the CPU kernel, so that the op and its gradients run on either device.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../conv3x3_impl.h"

namespace stylegan_ops {
namespace {

at::Tensor conv3x3_cuda(const at::Tensor& x, const at::Tensor& w) {
    check_conv3x3(x, w);
    const c10::cuda::CUDAGuard guard(x.device());
    if (x.numel() == 0 || w.numel() == 0) {
        at::Tensor y = conv3x3_output(x, w);
        return y.numel() == 0 ? y : y.zero_();
    }
    return at::conv2d(x, w, {}, 1, 1).contiguous(output_memory_format(x));
}

at::Tensor conv3x3_weight_grad_cuda(const at::Tensor& grad, const at::Tensor& x) {
    check_conv3x3_weight_grad(grad, x);
    const c10::cuda::CUDAGuard guard(x.device());
    const int64_t K = grad.size(1), C = x.size(1);
    if (grad.numel() == 0 || x.numel() == 0) return at::zeros({K, C, 3, 3}, x.options());
    const at::Tensor w = at::empty({K, C, 3, 3}, x.options());
    return std::get<1>(at::convolution_backward(grad, x, w, std::nullopt, {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1,
                                                {false, true, false}))
        .contiguous();
}

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CUDA, m) {
    m.impl("conv3x3", &conv3x3_cuda);
    m.impl("conv3x3_weight_grad", &conv3x3_weight_grad_cuda);
}

}  // namespace stylegan_ops
