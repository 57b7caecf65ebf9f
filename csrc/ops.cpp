// The one place where the stylegan_ops schemas are declared: forward and backward ops alike. Kernels are
// registered per device in csrc/cpu and csrc/cuda; fake (meta) kernels in Python (stylegan_ops/), and autograd there
// too except for the layer epilogues (noise_bias_act, adain, style_epilogue: csrc/autograd.cpp).
#include <torch/library.h>

TORCH_LIBRARY(stylegan_ops, m) {
    const std::vector<at::Tag> tags = {at::Tag::pt2_compliant_tag};
    // y = clamp(act(x + b broadcast along dim) * gain); clamp None disables clamping.
    m.def("bias_act(Tensor x, Tensor? b, int dim, str act, float alpha, float gain, float? clamp) -> Tensor", tags);
    // d(bias_act)/dx given the output y; for linear, relu and lrelu, whose derivative follows from y.
    m.def("bias_act_grad_from_output(Tensor grad, Tensor y, str act, float alpha, float gain, float? clamp) -> Tensor",
          tags);
    // d^order(bias_act)/dx^order times grad, given the input x and bias b; order is 1 or 2.
    m.def("bias_act_grad_from_input(Tensor grad, Tensor x, Tensor? b, int dim, str act, float alpha, float gain, "
          "float? clamp, int order) -> Tensor",
          tags);
    // Upsample by zero insertion, pad (negative crops), FIR-filter each channel, downsample; NCHW.
    // up and down are (x, y), padding is (x0, x1, y0, y1). Its gradient is again an upfirdn2d.
    m.def("upfirdn2d(Tensor x, Tensor f, int[2] up, int[2] down, int[4] padding, bool flip_filter, float gain) -> Tensor",
          tags);
    // y = clamp(act(x + noise_strength * noise + b) * gain) on NCHW; noise [N, 1, H, W], noise_strength one value or
    // one per channel. Its gradient is bias_act's (from the output or the input) followed by sums.
    m.def("noise_bias_act(Tensor x, Tensor? noise, Tensor? noise_strength, Tensor? b, str act, float alpha, "
          "float gain, float? clamp) -> Tensor",
          tags);
    // (y, mean, rstd): instance normalization of each (n, c) plane, then y = x_norm * style_scale + style_bias, the
    // style [N, C]; mean and rstd are the per-plane statistics, kept for the backward.
    m.def("adain(Tensor x, Tensor style_scale, Tensor style_bias, float eps) -> (Tensor, Tensor, Tensor)", tags);
    // (grad_x, grad_style_scale, grad_style_bias) of adain.
    m.def("adain_backward(Tensor grad, Tensor x, Tensor style_scale, Tensor mean, Tensor rstd, float eps) -> "
          "(Tensor, Tensor, Tensor)",
          tags);
    // StyleGAN's layer tail: adain(lrelu(x + noise_strength * noise + b, alpha) * gain, style_scale, style_bias, eps).
    m.def("style_epilogue(Tensor x, Tensor? noise, Tensor? noise_strength, Tensor? b, Tensor style_scale, "
          "Tensor style_bias, float alpha, float gain, float eps) -> (Tensor, Tensor, Tensor)",
          tags);
    // (grad_x, grad_style_scale, grad_style_bias, grad_x_sums) of style_epilogue. The gradients of noise,
    // noise_strength and b are sums of grad_x; grad_x_sums [N, C, 2] (float32, float64 for float64 x) holds per plane
    // sum(grad_x) and sum(grad_x * noise), which summed over N give those of b and a per-channel noise_strength.
    m.def("style_epilogue_backward(Tensor grad, Tensor x, Tensor? noise, Tensor? noise_strength, Tensor? b, "
          "Tensor style_scale, Tensor mean, Tensor rstd, float alpha, float gain, float eps) -> "
          "(Tensor, Tensor, Tensor, Tensor)",
          tags);
    // 3x3 convolution (a correlation, as torch's conv2d) of x [N, C, H, W] with w [K, C, 3, 3], zero padding 1,
    // stride 1: [N, K, H, W]. Its gradients are conv3x3 and conv3x3_weight_grad again.
    m.def("conv3x3(Tensor x, Tensor w) -> Tensor", tags);
    // The gradient of conv3x3(x, w) with respect to w, given the gradient of its output: [K, C, 3, 3].
    m.def("conv3x3_weight_grad(Tensor grad, Tensor x) -> Tensor", tags);
    // StyleGAN3's (y, signs): bias, upsample by up, pad, FIR fu (gain up^2), lrelu(gain * .) and clamp, FIR fd,
    // downsample by down; fu and fd 1-D (separable) or 2-D, padding (x0, x1, y0, y1). signs: 2 bits per element of
    // the upsampled buffer, [N, C, H, ceil(W / 4)] uint8, when write_signs (else empty), for the gradients.
    m.def("filtered_lrelu(Tensor x, Tensor fu, Tensor fd, Tensor? b, int up, int down, int[4] padding, float gain, "
          "float slope, float? clamp, bool flip_filter, bool write_signs) -> (Tensor, Tensor)",
          tags);
    // The linear op of filtered_lrelu's gradients: the same pipeline with the activation replaced by the derivative
    // that signs record, read at (i + sign_offset[1], j + sign_offset[0]). Its gradient is again this op.
    m.def("filtered_lrelu_signed(Tensor x, Tensor fu, Tensor fd, Tensor signs, int up, int down, int[4] padding, "
          "float gain, float slope, bool flip_filter, int[2] sign_offset) -> Tensor",
          tags);
}
