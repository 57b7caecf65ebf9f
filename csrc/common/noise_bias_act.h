// noise_bias_act: the plain parameter block shared by the CPU and CUDA kernels.
//
//   y = clamp(act(x + noise_strength * noise + b) * gain)
//
// x and y are [N, C, H, W], both NCHW-contiguous or both channels_last; noise is [N, 1, H, W] with contiguous H*W
// planes (an expanded [1, 1, H, W] buffer has batch stride 0), shared by all channels; noise_strength is one value
// or one per channel.
// The element maths after the noise term is bias_act's forward (bias_act_element).
#pragma once

#include <stdint.h>

#include "bias_act.h"
#include "dtype.h"
#include "host_device.h"

namespace stylegan_ops {

struct NoiseBiasActParams {
    const void* x;
    const void* noise;           // or null
    const void* noise_strength;  // 1 or `channels` values; null when noise is
    const void* b;               // `channels` values, or null
    void* y;
    int64_t batch, channels, height, width;
    int64_t noise_batch_stride;  // noise planes are contiguous H*W; image n's starts at n * noise_batch_stride
    bool noise_strength_per_channel;
    bool channels_last;
    double alpha, gain, clamp;
    bool has_clamp;
    Act act;
    DType dtype;
};

// The bias_act parameters of the activation part (mode Forward).
SG_HD BiasActParams activation_params(const NoiseBiasActParams& p) {
    BiasActParams a{};
    a.alpha = p.alpha;
    a.gain = p.gain;
    a.clamp = p.clamp;
    a.has_clamp = p.has_clamp;
    a.act = p.act;
    a.mode = BiasActMode::Forward;
    a.dtype = p.dtype;
    return a;
}

}  // namespace stylegan_ops
