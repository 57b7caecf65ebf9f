// upfirdn2d on CUDA.
//
// Tiled kernel (NCHW): a block computes a TILE_W x TILE_H tile of output pixels of one plane. It stages the filter
// taps (flipped and scaled, zero beyond the filter's size) and the input pixels that the tile reads in shared memory,
// then each thread computes its outputs polyphase: only the taps that land on input pixels, unrolled, since up, down
// and the filter's bound are template parameters. Specialised for up or down 1, 2 and 4 (the same on both axes,
// or on one axis for the passes of a separable filter) and filters up to 4, 8 (2-D) or 8, 16 (1-D) taps.
// Generic kernel: one thread per output pixel, any parameters and either layout (channels innermost for
// channels_last so that a warp reads consecutive channels).
#include <stdint.h>

#include "element_types.cuh"
#include "kernel_launch.cuh"
#include "launch.cuh"

namespace stylegan_ops {
namespace {

template <int UX, int UY, int DX, int DY, int FW, int FH, int TW, int TH>
struct TileConfig {
    static constexpr int kUpX = UX, kUpY = UY, kDownX = DX, kDownY = DY;
    static constexpr int kMaxFilterW = FW, kMaxFilterH = FH;
    static constexpr int kTileW = TW, kTileH = TH;
    // Input pixels a tile reads along each axis, at most: ((tile - 1) * down + taps - 1) / up + 1, plus one for the
    // rounding of the tile's first input pixel.
    static constexpr int kInW = ((TW - 1) * DX + FW - 1) / UX + 2;
    static constexpr int kInH = ((TH - 1) * DY + FH - 1) / UY + 2;

    static dim3 grid(const Upfirdn2dParams& p) {
        const int64_t planes = p.batch * p.channels, max_z = device_attribute<cudaDevAttrMaxGridDimZ>();
        return dim3((p.out_w + TW - 1) / TW, (p.out_h + TH - 1) / TH, (unsigned int)(planes < max_z ? planes : max_z));
    }

    static bool matches(const Upfirdn2dParams& p) {
        return p.up_x == UX && p.up_y == UY && p.down_x == DX && p.down_y == DY && p.filter_w <= FW &&
               p.filter_h <= FH && (p.out_h + TH - 1) / TH <= device_attribute<cudaDevAttrMaxGridDimY>();
    }
};

constexpr int kTiledThreads = 256;

template <typename T, typename C>
__global__ void __launch_bounds__(kTiledThreads, 1) upfirdn2d_tiled_kernel(Upfirdn2dParams p) {
    using S = acc_t<T>;
    __shared__ S taps[C::kMaxFilterH][C::kMaxFilterW];
    __shared__ S tile[C::kInH][C::kInW];

    const S* f = static_cast<const S*>(p.f);
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    for (int i = threadIdx.x; i < C::kMaxFilterH * C::kMaxFilterW; i += blockDim.x) {
        const int ty = i / C::kMaxFilterW, tx = i % C::kMaxFilterW;
        taps[ty][tx] = (ty < p.filter_h && tx < p.filter_w)
                           ? upfirdn2d_tap(f, ty, tx, p.filter_h, p.filter_w, p.flip_filter, S(p.gain))
                           : S(0);
    }

    const int ox0 = blockIdx.x * C::kTileW, oy0 = blockIdx.y * C::kTileH;
    const int ix0 = floor_div(ox0 * C::kDownX - p.pad_x0, C::kUpX);  // input pixel held in tile column 0
    const int iy0 = floor_div(oy0 * C::kDownY - p.pad_y0, C::kUpY);
    const int64_t planes = p.batch * p.channels;
    for (int64_t plane = blockIdx.z; plane < planes; plane += gridDim.z) {
        const int64_t n = plane / p.channels, c = plane % p.channels;
        const T* xp = x + n * p.x_stride[0] + c * p.x_stride[1];
        T* yp = y + n * p.y_stride[0] + c * p.y_stride[1];

        __syncthreads();  // the previous plane's tile has been read (and the taps written)
        for (int i = threadIdx.x; i < C::kInH * C::kInW; i += blockDim.x) {
            const int ly = i / C::kInW, lx = i % C::kInW;
            const int iy = iy0 + ly, ix = ix0 + lx;
            const bool inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
            tile[ly][lx] = inside ? to_acc(xp[iy * p.x_stride[2] + ix * p.x_stride[3]]) : S(0);
        }
        __syncthreads();

        for (int i = threadIdx.x; i < C::kTileW * C::kTileH; i += blockDim.x) {
            const int ox = ox0 + i % C::kTileW, oy = oy0 + i / C::kTileW;
            if (ox >= p.out_w || oy >= p.out_h) continue;
            const FirstTap fx = first_tap(ox, C::kUpX, C::kDownX, p.pad_x0);
            const FirstTap fy = first_tap(oy, C::kUpY, C::kDownY, p.pad_y0);
            const int sx = fx.pixel - ix0, sy = fy.pixel - iy0;
            S acc = S(0);
#pragma unroll
            for (int ky = 0; ky < (C::kMaxFilterH + C::kUpY - 1) / C::kUpY; ++ky) {
                const int ty = fy.tap + ky * C::kUpY;
                if (ty >= p.filter_h) break;  // the filter's own size: a zero tap times an inf pixel is NaN
#pragma unroll
                for (int kx = 0; kx < (C::kMaxFilterW + C::kUpX - 1) / C::kUpX; ++kx) {
                    const int tx = fx.tap + kx * C::kUpX;
                    if (tx >= p.filter_w) break;
                    acc += taps[ty][tx] * tile[sy + ky][sx + kx];
                }
            }
            yp[oy * p.y_stride[2] + ox * p.y_stride[3]] = from_acc<T>(acc);
        }
    }
}

constexpr int kGenericThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kGenericThreads, 1) upfirdn2d_generic_kernel(Upfirdn2dParams p) {
    using S = acc_t<T>;
    const S* f = static_cast<const S*>(p.f);
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    const int64_t total = p.batch * p.channels * p.out_h * p.out_w;
    const S gain = S(p.gain);
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        int64_t n, c, rest = idx;
        int ox, oy;
        if (p.channels_last) {
            c = rest % p.channels, rest /= p.channels;
            ox = int(rest % p.out_w), rest /= p.out_w;
            oy = int(rest % p.out_h), n = rest / p.out_h;
        } else {
            ox = int(rest % p.out_w), rest /= p.out_w;
            oy = int(rest % p.out_h), rest /= p.out_h;
            c = rest % p.channels, n = rest / p.channels;
        }
        const T* xp = x + n * p.x_stride[0] + c * p.x_stride[1];
        const FirstTap fx = first_tap(ox, p.up_x, p.down_x, p.pad_x0);
        const FirstTap fy = first_tap(oy, p.up_y, p.down_y, p.pad_y0);
        S acc = S(0);
        for (int ty = fy.tap, iy = fy.pixel; ty < p.filter_h; ty += p.up_y, ++iy) {
            if (iy < 0 || iy >= p.in_h) continue;
            for (int tx = fx.tap, ix = fx.pixel; tx < p.filter_w; tx += p.up_x, ++ix) {
                if (ix < 0 || ix >= p.in_w) continue;
                const S w = upfirdn2d_tap(f, ty, tx, p.filter_h, p.filter_w, p.flip_filter, gain);
                acc += w * to_acc(xp[iy * p.x_stride[2] + ix * p.x_stride[3]]);
            }
        }
        y[n * p.y_stride[0] + c * p.y_stride[1] + oy * p.y_stride[2] + ox * p.y_stride[3]] = from_acc<T>(acc);
    }
}

// Tries each configuration in order; returns true and sets `err` for the first that matches.
template <typename T>
bool launch_first_match(const Upfirdn2dParams&, cudaStream_t, cudaError_t&) {
    return false;
}
template <typename T, typename C, typename... Rest>
bool launch_first_match(const Upfirdn2dParams& p, cudaStream_t stream, cudaError_t& err) {
    if (C::matches(p)) {
        err = launch_kernel(upfirdn2d_tiled_kernel<T, C>, C::grid(p), kTiledThreads, stream, p);
        return true;
    }
    return launch_first_match<T, Rest...>(p, stream, err);
}

// Up to 4 taps and 8 taps, 2-D, the same resampling on both axes.
template <int U, int D, int TW, int TH>
using Square4 = TileConfig<U, U, D, D, 4, 4, TW, TH>;
template <int U, int D, int TW, int TH>
using Square8 = TileConfig<U, U, D, D, 8, 8, TW, TH>;
// The row and the column pass of a separable filter.
template <int U, int D, int F>
using RowPass = TileConfig<U, 1, D, 1, F, 1, 128, 8>;
template <int U, int D, int F>
using ColumnPass = TileConfig<1, U, 1, D, 1, F, 32, 32>;

template <typename T>
bool launch_tiled_if_supported(const Upfirdn2dParams& p, cudaStream_t stream, cudaError_t& err) {
    if (p.channels_last) return false;
    if (p.filter_h == 1) {
        return launch_first_match<T, RowPass<1, 1, 8>, RowPass<2, 1, 8>, RowPass<1, 2, 8>, RowPass<4, 1, 8>,
                                  RowPass<1, 4, 8>, RowPass<1, 1, 16>, RowPass<2, 1, 16>, RowPass<1, 2, 16>,
                                  RowPass<4, 1, 16>, RowPass<1, 4, 16>>(p, stream, err);
    }
    if (p.filter_w == 1) {
        return launch_first_match<T, ColumnPass<1, 1, 8>, ColumnPass<2, 1, 8>, ColumnPass<1, 2, 8>,
                                  ColumnPass<4, 1, 8>, ColumnPass<1, 4, 8>, ColumnPass<1, 1, 16>,
                                  ColumnPass<2, 1, 16>, ColumnPass<1, 2, 16>, ColumnPass<4, 1, 16>,
                                  ColumnPass<1, 4, 16>>(p, stream, err);
    }
    return launch_first_match<T, Square4<1, 1, 32, 32>, Square4<2, 1, 64, 32>, Square4<1, 2, 32, 32>,
                              Square4<4, 1, 64, 32>, Square4<1, 4, 16, 16>, Square8<1, 1, 32, 32>,
                              Square8<2, 1, 64, 32>, Square8<1, 2, 32, 32>, Square8<4, 1, 64, 32>,
                              Square8<1, 4, 16, 16>>(p, stream, err);
}

}  // namespace

cudaError_t launch_upfirdn2d(const Upfirdn2dParams& p, cudaStream_t stream) {
    const int64_t total = p.batch * p.channels * p.out_h * p.out_w;
    if (total <= 0) return cudaSuccess;
    return dispatch_dtype(p.dtype, [&](auto type_tag) -> cudaError_t {
        using T = decltype(type_tag);
        cudaError_t err = cudaSuccess;
        if (launch_tiled_if_supported<T>(p, stream, err)) return err;
        return launch_kernel(upfirdn2d_generic_kernel<T>, grid_size(total, kGenericThreads, 16), kGenericThreads,
                             stream, p);
    });
}

}  // namespace stylegan_ops
