// filtered_lrelu on CUDA.
//
// Tiled kernel: a block computes a kTileW x kTileH tile of output pixels of one plane (a grid-stride loop over the
// planes along z). The tile reads the buffer t of filtered_lrelu.h at rows and columns [origin * down, origin *
// down + (tile - 1) * down + fd taps): that slice lives in shared memory only. Per plane, between barriers:
//   1. stage the input pixels the slice reads, plus the bias (zero outside x);
//   2. separable fu: the vertical upsampling pass into shared memory, polyphase (only the taps that meet input rows);
//   3. the last upsampling pass (horizontal, or both axes for a 2-D fu), polyphase, and in the same loop the
//      activation (or the multiplier read from the signs), each thread taking 4 consecutive buffer columns: one byte
//      of signs;
//   4. the downsampling filter at every down-th position: separable as a horizontal pass into shared memory, then
//      the vertical one writing y; 2-D in one pass.
// up == 1 (a 1-tap fu) reads x directly in phase 3; down == 1 (a 1-tap fd) writes y from phase 3, with no slice.
// Separable taps that every thread reuses sit in registers; the input tile's room is reused by the downsampling pass.
// Tile sizes (kTileSizes) keep each kernel's static shared memory within 48 KB; 256 threads per block.
// Specialised (template parameters) for up and down in {1, 2, 4} with the filters of NVIDIA's StyleGAN3 layers:
// 6 * up taps for fu (1 when up is 1) and 6 * down for fd (1 when down is 1), each separable (1-D) or 2-D.
//
// Signs without atomics: the tile at output column ox0 owns buffer columns [ox0 * down, (ox0 + kTileW) * down), a
// multiple of 4 wide, hence whole sign bytes; the last tile of a row owns the rest, up to the last column that an
// output reads. Rows likewise. A tile writes the bytes it owns, whole, and only uses the elements it computes beyond
// them (its neighbours own those). Each byte holding an element that some output reads is written by one thread of
// one block; the others keep their zeros.
//
// Generic kernels, for every other call: one thread per output pixel recomputing the buffer elements it reads, from
// global memory; when writing signs, then one thread per sign byte recomputing its 4 elements.
#include <stdint.h>

#include "../common/filtered_lrelu.h"
#include "element_types.cuh"
#include "kernel_launch.cuh"

namespace stylegan_ops {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }

// Output tile {width, height}, [float, double][up 1, 2, 4][down 1, 2, 4]: about the largest simple sizes whose shared
// memory stays within 48 KB (asserted in TileConfig).
constexpr int kTileSizes[2][3][3][2] = {
    {{{64, 32}, {32, 32}, {16, 16}}, {{64, 64}, {32, 32}, {16, 12}}, {{64, 64}, {32, 32}, {16, 16}}},
    {{{64, 32}, {32, 16}, {16, 8}}, {{64, 32}, {24, 16}, {8, 8}}, {{64, 32}, {32, 16}, {8, 8}}},
};

constexpr int factor_index(int factor) { return factor == 1 ? 0 : factor == 2 ? 1 : 2; }

template <typename T, int UP, int DOWN, bool SEP_U, bool SEP_D>
struct TileConfig {
    using S = acc_t<T>;
    static constexpr int kUp = UP, kDown = DOWN;
    static constexpr int kFu = UP > 1 ? 6 * UP : 1, kFd = DOWN > 1 ? 6 * DOWN : 1;  // taps per axis
    static constexpr bool kSepU = SEP_U, kSepD = SEP_D;
    static constexpr int kTileW = kTileSizes[sizeof(S) == 8][factor_index(UP)][factor_index(DOWN)][0];
    static constexpr int kTileH = kTileSizes[sizeof(S) == 8][factor_index(UP)][factor_index(DOWN)][1];
    // The slice: kBufH rows of kBufW columns (rounded up to whole sign bytes, kGroups of 4).
    static constexpr int kBufH = (kTileH - 1) * DOWN + kFd;
    static constexpr int kBufW = ((kTileW - 1) * DOWN + kFd + 3) / 4 * 4;
    static constexpr int kGroups = kBufW / 4;
    // Input pixels the slice reads (up > 1): slice position k's first pixel is at most (k + 2 * up - 2) / up into
    // the input tile, then kFu / up taps.
    static constexpr int kInH = (kBufH + 2 * UP - 3) / UP + kFu / UP;
    static constexpr int kInW = (kBufW + 2 * UP - 3) / UP + kFu / UP;
    // Shared memory, in elements: the taps; the activated slice (down > 1); the input tile and the vertical
    // upsampling pass (up > 1), whose room the horizontal downsampling pass (down > 1, separable) reuses.
    static constexpr int kFuElems = kSepU ? kFu : kFu * kFu;
    static constexpr int kFdElems = kSepD ? kFd : kFd * kFd;
    static constexpr int kSliceElems = DOWN > 1 ? kBufH * kBufW : 0;
    static constexpr int kUpElems = UP > 1 ? kInH * kInW + (kSepU ? kBufH * kInW : 0) : 0;
    static constexpr int kDownElems = DOWN > 1 && kSepD ? kBufH * kTileW : 0;
    static constexpr int kSmemElems =
        kFuElems + kFdElems + kSliceElems + (kUpElems > kDownElems ? kUpElems : kDownElems);
    // Blocks per multiprocessor the registers must allow: 2 (at most 128 registers a thread; the shared memory of two
    // blocks fits every device from sm_80), 1 for double, whose separable taps held in registers take up to 96.
    static constexpr int kMinBlocks = sizeof(S) == 8 ? 1 : 2;

    static_assert(UP == 1 || UP == 2 || UP == 4, "up is 1, 2 or 4");
    static_assert(DOWN == 1 || DOWN == 2 || DOWN == 4, "down is 1, 2 or 4");
    static_assert((kTileW * DOWN) % 4 == 0, "a tile owns whole sign bytes");
    static_assert(kSmemElems * sizeof(S) <= 48 * 1024, "static shared memory is limited to 48 KB");

    static int tiles_y(const FilteredLreluParams& p) { return (p.out_h + kTileH - 1) / kTileH; }

    static dim3 grid(const FilteredLreluParams& p) {
        const int64_t planes = p.batch * p.channels, max_z = device_attribute<cudaDevAttrMaxGridDimZ>();
        return dim3((p.out_w + kTileW - 1) / kTileW, tiles_y(p), (unsigned int)(planes < max_z ? planes : max_z));
    }

    static bool filter_matches(int h, int w, bool separable, int taps, bool sep) {
        return h == taps && w == taps && (taps == 1 || separable == sep);
    }

    static bool matches(const FilteredLreluParams& p) {
        return p.up == UP && p.down == DOWN && filter_matches(p.fu_h, p.fu_w, p.fu_separable, kFu, kSepU) &&
               filter_matches(p.fd_h, p.fd_w, p.fd_separable, kFd, kSepD) &&
               tiles_y(p) <= device_attribute<cudaDevAttrMaxGridDimY>();
    }
};

// Stages the correlation taps of an N-tap filter f: N (SEP, the same along both axes) or N x N of them, times
// axis_gain per axis. A 1-tap filter becomes its one coefficient, squared when f is separable.
template <int N, bool SEP, typename S>
__device__ __forceinline__ void stage_taps(const S* f, bool f_separable, S axis_gain, bool flip_filter, S* dst) {
    if constexpr (N == 1) {
        if (threadIdx.x == 0) dst[0] = f[0] * axis_gain * (f_separable ? f[0] * axis_gain : axis_gain);
    } else {
        for (int k = threadIdx.x; k < (SEP ? N : N * N); k += blockDim.x) {
            dst[k] = SEP ? filtered_lrelu_tap(f, 0, k, 1, N, flip_filter) * axis_gain
                         : filtered_lrelu_tap(f, k / N, k % N, N, N, flip_filter) * (axis_gain * axis_gain);
        }
    }
}

// The activation of 4 consecutive buffer elements (row i, columns j0..j0+3) in place: the forward's, whose sign codes
// go to the byte returned for the columns below own_x1, or the multiplier read from the signs.
template <typename S>
__device__ __forceinline__ uint32_t activate_group(const FilteredLreluParams& p, const uint8_t* plane_signs, int i,
                                                   int j0, int own_x1, S (&v)[4]) {
    const S gain = S(p.gain), slope = S(p.slope);
    uint32_t byte = 0;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        if (p.sign_mode == SignMode::kReadSigns) {
            const uint32_t code = filtered_lrelu_read_code(plane_signs, p.sign_h, p.sign_row_bytes, i + p.sign_y0,
                                                           j0 + e + p.sign_x0);
            v[e] *= filtered_lrelu_multiplier(code, gain, slope);
        } else {
            uint32_t code;
            v[e] = filtered_lrelu_activate(v[e], gain, slope, S(p.clamp), code);
            if (j0 + e < own_x1) byte |= code << (2 * e);
        }
    }
    return byte;
}

template <typename T, typename C>
__global__ void __launch_bounds__(kThreads, C::kMinBlocks) filtered_lrelu_tiled_kernel(FilteredLreluParams p) {
    using S = acc_t<T>;
    constexpr int UP = C::kUp, DOWN = C::kDown, TW = C::kTileW, TH = C::kTileH;
    constexpr int BH = C::kBufH, BW = C::kBufW, IH = C::kInH, IW = C::kInW, FU = C::kFu, FD = C::kFd;
    constexpr int NU = FU / UP;  // fu taps per phase
    __shared__ S smem[C::kSmemElems];
    S* const gu = smem;                       // fu's taps, times up per axis
    S* const gd = gu + C::kFuElems;           // fd's taps
    S* const slice = gd + C::kFdElems;        // [BH][BW]: the activated slice (down > 1)
    S* const in_tile = slice + C::kSliceElems;  // [IH][IW]: x + b (up > 1)
    S* const vert = in_tile + IH * IW;        // [BH][IW]: the vertical upsampling pass (up > 1, separable fu)
    S* const horiz = in_tile;                 // [BH][TW]: the horizontal downsampling pass (down > 1, separable fd)

    stage_taps<FU, C::kSepU>(static_cast<const S*>(p.fu), p.fu_separable, S(UP), p.flip_filter, gu);
    stage_taps<FD, C::kSepD>(static_cast<const S*>(p.fd), p.fd_separable, S(1), p.flip_filter, gd);
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);

    // The tile's outputs start at (oy0, ox0), its slice at buffer (by0, bx0), its input tile at pixel (iy0, ix0),
    // which lands ry, rx upsampled positions before the slice's first element reads (padding included).
    const int ox0 = int(blockIdx.x) * TW, oy0 = int(blockIdx.y) * TH;
    const int bx0 = ox0 * DOWN, by0 = oy0 * DOWN;
    const int ix0 = floor_div(bx0 - p.pad_x0, UP), iy0 = floor_div(by0 - p.pad_y0, UP);
    const int rx = bx0 - p.pad_x0 - ix0 * UP, ry = by0 - p.pad_y0 - iy0 * UP;
    // The sign bytes this tile owns: rows [by0, own_y1), columns [bx0, own_x1).
    const int own_x1 = imin(ox0 + TW >= p.out_w ? (p.out_w - 1) * DOWN + FD : bx0 + TW * DOWN, p.sign_w);
    const int own_y1 = imin(oy0 + TH >= p.out_h ? (p.out_h - 1) * DOWN + FD : by0 + TH * DOWN, p.sign_h);
    // Separable filters' taps in registers: fu's for the 4 horizontal phases of phase 3 (the same in every group:
    // bx0 and the groups' first columns are multiples of 4, and up divides 4), and fd's.
    [[maybe_unused]] S wu[4][NU], wd[FD];
    __syncthreads();  // the taps are staged
    if constexpr (UP > 1 && C::kSepU) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
#pragma unroll
            for (int s = 0; s < NU; ++s) wu[e][s] = gu[(UP - (rx + e) % UP) % UP + s * UP];
        }
    }
    if constexpr (DOWN > 1 && C::kSepD) {
#pragma unroll
        for (int t = 0; t < FD; ++t) wd[t] = gd[t];
    }

    const int64_t planes = p.batch * p.channels;
    for (int64_t plane = blockIdx.z; plane < planes; plane += gridDim.z) {
        const int64_t n = plane / p.channels, c = plane % p.channels;
        const T* xp = x + n * p.x_stride[0] + c * p.x_stride[1];
        T* yp = y + n * p.y_stride[0] + c * p.y_stride[1];
        const S bias = p.b != nullptr ? to_acc(static_cast<const T*>(p.b)[c]) : S(0);
        uint8_t* plane_signs = p.signs != nullptr ? p.signs + plane * p.sign_h * int64_t(p.sign_row_bytes) : nullptr;

        __syncthreads();  // the previous plane's shared memory has been read
        if constexpr (UP > 1) {
            for (int k = threadIdx.x; k < IH * IW; k += blockDim.x) {
                const int iy = iy0 + k / IW, ix = ix0 + k % IW;
                const bool inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
                in_tile[k] = inside ? to_acc(xp[iy * p.x_stride[2] + ix * p.x_stride[3]]) + bias : S(0);
            }
            __syncthreads();
            if constexpr (C::kSepU) {
                for (int k = threadIdx.x; k < BH * IW; k += blockDim.x) {
                    const int ii = k / IW, q = k % IW;
                    const int tap = (UP - (ry + ii) % UP) % UP, row = (ry + ii + tap) / UP;
                    S acc = S(0);
#pragma unroll
                    for (int s = 0; s < NU; ++s) acc += gu[tap + s * UP] * in_tile[(row + s) * IW + q];
                    vert[k] = acc;
                }
                __syncthreads();
            }
        }

        // Phase 3: slice elements (ii, jj0 + e), e < 4, jj0 a multiple of 4.
        for (int k = threadIdx.x; k < BH * C::kGroups; k += blockDim.x) {
            const int ii = k / C::kGroups, jj0 = k % C::kGroups * 4;
            S v[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int jj = jj0 + e;
                if constexpr (UP == 1) {
                    const int iy = iy0 + ii, ix = ix0 + jj;
                    const bool inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
                    v[e] = inside ? gu[0] * (to_acc(xp[iy * p.x_stride[2] + ix * p.x_stride[3]]) + bias) : S(0);
                } else {
                    const int tx = (UP - (rx + jj) % UP) % UP, col = (rx + jj + tx) / UP;
                    S acc = S(0);
                    if constexpr (C::kSepU) {
#pragma unroll
                        for (int s = 0; s < NU; ++s) acc += wu[e][s] * vert[ii * IW + col + s];
                    } else {
                        const int ty = (UP - (ry + ii) % UP) % UP, row = (ry + ii + ty) / UP;
                        for (int sy = 0; sy < NU; ++sy) {
#pragma unroll
                            for (int sx = 0; sx < NU; ++sx) {
                                acc += gu[(ty + sy * UP) * FU + tx + sx * UP] * in_tile[(row + sy) * IW + col + sx];
                            }
                        }
                    }
                    v[e] = acc;
                }
            }
            const int i = by0 + ii, j0 = bx0 + jj0;
            const uint32_t byte = activate_group(p, plane_signs, i, j0, own_x1, v);
            if (p.sign_mode == SignMode::kWriteSigns && i < own_y1 && j0 < own_x1) {
                plane_signs[int64_t(i) * p.sign_row_bytes + (j0 >> 2)] = uint8_t(byte);
            }
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                if constexpr (DOWN == 1) {  // the slice is the tile: one output per element
                    const int oy = oy0 + ii, ox = ox0 + jj0 + e;
                    if (oy < p.out_h && ox < p.out_w) {
                        yp[oy * p.y_stride[2] + ox * p.y_stride[3]] = from_acc<T>(gd[0] * v[e]);
                    }
                } else {
                    slice[ii * BW + jj0 + e] = v[e];
                }
            }
        }

        if constexpr (DOWN > 1) {
            __syncthreads();
            if constexpr (C::kSepD) {
                for (int k = threadIdx.x; k < BH * TW; k += blockDim.x) {
                    const int ii = k / TW, q = k % TW;
                    S acc = S(0);
#pragma unroll
                    for (int t = 0; t < FD; ++t) acc += wd[t] * slice[ii * BW + q * DOWN + t];
                    horiz[k] = acc;
                }
                __syncthreads();
            }
            for (int k = threadIdx.x; k < TH * TW; k += blockDim.x) {
                const int r = k / TW, q = k % TW;
                const int oy = oy0 + r, ox = ox0 + q;
                if (oy >= p.out_h || ox >= p.out_w) continue;
                S acc = S(0);
                if constexpr (C::kSepD) {
#pragma unroll
                    for (int t = 0; t < FD; ++t) acc += wd[t] * horiz[(r * DOWN + t) * TW + q];
                } else {
                    for (int ty = 0; ty < FD; ++ty) {
                        const S* src = slice + (r * DOWN + ty) * BW + q * DOWN;
#pragma unroll
                        for (int tx = 0; tx < FD; ++tx) acc += gd[ty * FD + tx] * src[tx];
                    }
                }
                yp[oy * p.y_stride[2] + ox * p.y_stride[3]] = from_acc<T>(acc);
            }
        }
    }
}

// Buffer element t[i, j] of a plane, straight from x: the fu taps that meet input pixels.
template <typename T>
__device__ acc_t<T> buffer_element(const FilteredLreluParams& p, const T* xp, acc_t<T> bias, int i, int j) {
    using S = acc_t<T>;
    const S* fu = static_cast<const S*>(p.fu);
    const S gain = S(p.up) * S(p.up);
    const int ty0 = floor_mod(p.pad_y0 - i, p.up), tx0 = floor_mod(p.pad_x0 - j, p.up);
    S acc = S(0);
    for (int ty = ty0, iy = (i + ty0 - p.pad_y0) / p.up; ty < p.fu_h; ty += p.up, ++iy) {
        if (iy < 0 || iy >= p.in_h) continue;
        for (int tx = tx0, ix = (j + tx0 - p.pad_x0) / p.up; tx < p.fu_w; tx += p.up, ++ix) {
            if (ix < 0 || ix >= p.in_w) continue;
            const S w = p.fu_separable ? filtered_lrelu_tap(fu, 0, ty, 1, p.fu_w, p.flip_filter) *
                                             filtered_lrelu_tap(fu, 0, tx, 1, p.fu_w, p.flip_filter)
                                       : filtered_lrelu_tap(fu, ty, tx, p.fu_h, p.fu_w, p.flip_filter);
            acc += w * gain * (to_acc(xp[iy * p.x_stride[2] + ix * p.x_stride[3]]) + bias);
        }
    }
    return acc;
}

// Whether some output reads buffer position i (>= 0) along an axis of `out` outputs.
__device__ __forceinline__ bool buffer_read(int i, int down, int fd_taps, int out) {
    return i - imin(i / down, out - 1) * down < fd_taps;
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 1) filtered_lrelu_generic_kernel(FilteredLreluParams p) {
    using S = acc_t<T>;
    const S* fd = static_cast<const S*>(p.fd);
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    const S gain = S(p.gain), slope = S(p.slope), clamp = S(p.clamp);
    const bool channels_inner = p.y_stride[1] < p.y_stride[3];  // channels_last: a warp walks the channels
    const int64_t total = p.batch * p.channels * p.out_h * p.out_w;
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        int64_t n, c, rest = idx;
        int ox, oy;
        if (channels_inner) {
            c = rest % p.channels, rest /= p.channels;
            ox = int(rest % p.out_w), rest /= p.out_w;
            oy = int(rest % p.out_h), n = rest / p.out_h;
        } else {
            ox = int(rest % p.out_w), rest /= p.out_w;
            oy = int(rest % p.out_h), rest /= p.out_h;
            c = rest % p.channels, n = rest / p.channels;
        }
        const T* xp = x + n * p.x_stride[0] + c * p.x_stride[1];
        const S bias = p.b != nullptr ? to_acc(static_cast<const T*>(p.b)[c]) : S(0);
        const uint8_t* plane_signs =
            p.signs != nullptr ? p.signs + (n * p.channels + c) * p.sign_h * int64_t(p.sign_row_bytes) : nullptr;
        S acc = S(0);
        for (int ky = 0; ky < p.fd_h; ++ky) {
            const int i = oy * p.down + ky;
            for (int kx = 0; kx < p.fd_w; ++kx) {
                const int j = ox * p.down + kx;
                S a = buffer_element(p, xp, bias, i, j);
                if (p.sign_mode == SignMode::kReadSigns) {
                    const uint32_t code = filtered_lrelu_read_code(plane_signs, p.sign_h, p.sign_row_bytes,
                                                                   i + p.sign_y0, j + p.sign_x0);
                    a *= filtered_lrelu_multiplier(code, gain, slope);
                } else {
                    uint32_t code;
                    a = filtered_lrelu_activate(a, gain, slope, clamp, code);
                }
                const S w = p.fd_separable ? filtered_lrelu_tap(fd, 0, ky, 1, p.fd_w, p.flip_filter) *
                                                 filtered_lrelu_tap(fd, 0, kx, 1, p.fd_w, p.flip_filter)
                                           : filtered_lrelu_tap(fd, ky, kx, p.fd_h, p.fd_w, p.flip_filter);
                acc += w * a;
            }
        }
        y[n * p.y_stride[0] + c * p.y_stride[1] + oy * p.y_stride[2] + ox * p.y_stride[3]] = from_acc<T>(acc);
    }
}

// The sign rows and columns the generic path codes: up to the last that an output reads.
inline int generic_sign_rows(const FilteredLreluParams& p) {
    const int rows = (p.out_h - 1) * p.down + p.fd_h;
    return rows < p.sign_h ? rows : p.sign_h;
}
inline int generic_sign_cols(const FilteredLreluParams& p) {
    const int cols = (p.out_w - 1) * p.down + p.fd_w;
    return cols < p.sign_w ? cols : p.sign_w;
}

// kWriteSigns on the generic path: one thread per sign byte of the rows that some output reads, coding its elements
// up to the last column that one reads (the elements the CPU kernel codes).
template <typename T>
__global__ void __launch_bounds__(kThreads, 1) filtered_lrelu_generic_signs_kernel(FilteredLreluParams p, int rows,
                                                                                 int cols) {
    using S = acc_t<T>;
    const T* x = static_cast<const T*>(p.x);
    const S gain = S(p.gain), slope = S(p.slope), clamp = S(p.clamp);
    const int row_bytes = (cols + 3) / 4;
    const int64_t total = p.batch * p.channels * rows * row_bytes;
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        const int g = int(idx % row_bytes), i = int(idx / row_bytes % rows);
        const int64_t plane = idx / row_bytes / rows, n = plane / p.channels, c = plane % p.channels;
        if (!buffer_read(i, p.down, p.fd_h, p.out_h)) continue;
        const T* xp = x + n * p.x_stride[0] + c * p.x_stride[1];
        const S bias = p.b != nullptr ? to_acc(static_cast<const T*>(p.b)[c]) : S(0);
        uint32_t byte = 0;
        for (int e = 0; e < 4; ++e) {
            const int j = 4 * g + e;
            if (j >= cols) break;
            uint32_t code;
            filtered_lrelu_activate(buffer_element(p, xp, bias, i, j), gain, slope, clamp, code);
            byte |= code << (2 * e);
        }
        p.signs[(plane * p.sign_h + i) * p.sign_row_bytes + g] = uint8_t(byte);
    }
}

// Tries each configuration in order; returns true and sets `err` for the first that matches.
template <typename T>
bool launch_first_match(const FilteredLreluParams&, cudaStream_t, cudaError_t&) {
    return false;
}
template <typename T, typename C, typename... Rest>
bool launch_first_match(const FilteredLreluParams& p, cudaStream_t stream, cudaError_t& err) {
    if (C::matches(p)) {
        err = launch_kernel(filtered_lrelu_tiled_kernel<T, C>, C::grid(p), kThreads, stream, p);
        return true;
    }
    return launch_first_match<T, Rest...>(p, stream, err);
}

// The configurations of one (up, down): a separable (S) and a 2-D (F) variant of fu and of fd, except for a 1-tap
// filter (factor 1), whose one coefficient is staged either way.
template <typename T, int U, int D>
bool launch_factors(const FilteredLreluParams& p, cudaStream_t stream, cudaError_t& err) {
    if (p.up != U || p.down != D) return false;
    using SS = TileConfig<T, U, D, true, true>;
    using SF = TileConfig<T, U, D, true, false>;
    using FS = TileConfig<T, U, D, false, true>;
    using FF = TileConfig<T, U, D, false, false>;
    if constexpr (U == 1 && D == 1) return launch_first_match<T, SS>(p, stream, err);
    else if constexpr (U == 1) return launch_first_match<T, SS, SF>(p, stream, err);
    else if constexpr (D == 1) return launch_first_match<T, SS, FS>(p, stream, err);
    else return launch_first_match<T, SS, SF, FS, FF>(p, stream, err);
}

template <typename T>
bool launch_tiled_if_supported(const FilteredLreluParams& p, cudaStream_t stream, cudaError_t& err) {
    return launch_factors<T, 1, 1>(p, stream, err) || launch_factors<T, 1, 2>(p, stream, err) ||
           launch_factors<T, 1, 4>(p, stream, err) || launch_factors<T, 2, 1>(p, stream, err) ||
           launch_factors<T, 2, 2>(p, stream, err) || launch_factors<T, 2, 4>(p, stream, err) ||
           launch_factors<T, 4, 1>(p, stream, err) || launch_factors<T, 4, 2>(p, stream, err) ||
           launch_factors<T, 4, 4>(p, stream, err);
}

}  // namespace

cudaError_t launch_filtered_lrelu(const FilteredLreluParams& p, cudaStream_t stream) {
    const int64_t total = p.batch * p.channels * p.out_h * p.out_w;
    if (total <= 0) return cudaSuccess;
    return dispatch_dtype(p.dtype, [&](auto type_tag) -> cudaError_t {
        using T = decltype(type_tag);
        cudaError_t err = cudaSuccess;
        if (launch_tiled_if_supported<T>(p, stream, err)) return err;
        err = launch_kernel(filtered_lrelu_generic_kernel<T>, grid_size(total, kThreads, 16), kThreads, stream, p);
        if (err != cudaSuccess || p.sign_mode != SignMode::kWriteSigns) return err;
        const int rows = generic_sign_rows(p), cols = generic_sign_cols(p);
        const int64_t bytes = p.batch * p.channels * rows * int64_t((cols + 3) / 4);
        if (bytes <= 0) return cudaSuccess;
        return launch_kernel(filtered_lrelu_generic_signs_kernel<T>, grid_size(bytes, kThreads, 16), kThreads, stream,
                             p, rows, cols);
    });
}

}  // namespace stylegan_ops
