// Where element i of a dense [N, C, H, W] tensor lies, for the two layouts the kernels take.
#pragma once

namespace stylegan_ops {

template <typename I>
struct Position {
    I n, c, pixel;  // image, channel, pixel (h * W + w)
};

template <typename I>
__device__ __forceinline__ Position<I> position(I i, I channels, I hw, bool channels_last) {
    if (channels_last) {
        const I pixel = i / channels;
        return Position<I>{pixel / hw, i - pixel * channels, pixel % hw};
    }
    const I plane = i / hw;
    return Position<I>{plane / channels, plane % channels, i - plane * hw};
}

}  // namespace stylegan_ops
