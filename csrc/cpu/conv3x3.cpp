// conv3x3 on the CPU by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016). A 4x4 output tile is A^T [(G w G^T) ⊙ (B^T d B)] A for the 6x6 input patch d
// around it, so the sum over input channels splits into 36 independent matrix products [tiles, C] x [C, K] (at::bmm,
// i.e. the BLAS) at 36 multiply-adds per tile and channel pair where the direct convolution needs 144. The transforms
// are one pass each over the data, vectorized along channels. The weight gradient uses the same transforms:
// dU = sum over tiles of (B^T d B) ⊙ (A dY A^T), one matrix product [C, tiles] x [tiles, K] per point, dw = G^T dU G.
// Tiles go in chunks of whole images so that the transformed buffers stay a few MB, in the last-level cache.
//
// Accuracy: in float32 the result differs from a direct convolution by about 1e-5 of the output's magnitude (the
// transforms' constants reach 8 and 1/24); float64 and the float32 accumulation of float16/bfloat16 are as usual.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../conv3x3_impl.h"
#include "multiversion.h"

namespace stylegan_ops {
namespace {

constexpr int64_t kTile = 4;      // output tile
constexpr int64_t kPatch = 6;     // input patch = tile + 2
constexpr int64_t kPoints = 36;   // points of the transformed tile, kPatch * kPatch
constexpr int64_t kLanes = 64;    // channels transformed together: the vectorized inner loops' length
constexpr int64_t kBlock = 16;    // channels per block of the NCHW <-> channels-innermost transposes
// Images per chunk: enough for kMinTiles tiles (the matrix products' rows), else as many as keep a transformed buffer
// within kChunkBytes, so that it is still in the last-level cache when the next pass reads it.
constexpr int64_t kChunkBytes = int64_t(4) << 20;
constexpr int64_t kMinTiles = 256;

// G: the weight transform, 6x3.
constexpr double kG[kPatch][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

// The 1-D transforms along one axis, on rows of n contiguous values `step` apart. The rows of one call never
// overlap, which SG_VECTORIZE tells the compiler so that it vectorizes along them.
// B^T: 6 rows in, 6 out.
template <typename S>
inline void input_axis(const S* in, int64_t in_step, S* out, int64_t out_step, int64_t n) {
    SG_VECTORIZE
    for (int64_t c = 0; c < n; ++c) {
        const S d0 = in[c], d1 = in[c + in_step], d2 = in[c + 2 * in_step], d3 = in[c + 3 * in_step],
                d4 = in[c + 4 * in_step], d5 = in[c + 5 * in_step];
        out[c] = (S(4) * d0 - S(5) * d2) + d4;
        out[c + out_step] = (d3 + d4) - S(4) * (d1 + d2);
        out[c + 2 * out_step] = S(4) * (d1 - d2) + (d4 - d3);
        out[c + 3 * out_step] = S(2) * (d3 - d1) + (d4 - d2);
        out[c + 4 * out_step] = S(2) * (d1 - d3) + (d4 - d2);
        out[c + 5 * out_step] = (S(4) * d1 - S(5) * d3) + d5;
    }
}

// A^T: 6 rows in, 4 out.
template <typename S>
inline void output_axis(const S* in, int64_t in_step, S* out, int64_t out_step, int64_t n) {
    SG_VECTORIZE
    for (int64_t c = 0; c < n; ++c) {
        const S m0 = in[c], m1 = in[c + in_step], m2 = in[c + 2 * in_step], m3 = in[c + 3 * in_step],
                m4 = in[c + 4 * in_step], m5 = in[c + 5 * in_step];
        const S s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        out[c] = (s12 + s34) + m0;
        out[c + out_step] = d12 + S(2) * d34;
        out[c + 2 * out_step] = s12 + S(4) * s34;
        out[c + 3 * out_step] = (d12 + S(8) * d34) + m5;
    }
}

// A: 4 rows in, 6 out (the adjoint of output_axis, for the output gradient).
template <typename S>
inline void grad_axis(const S* in, int64_t in_step, S* out, int64_t out_step, int64_t n) {
    SG_VECTORIZE
    for (int64_t c = 0; c < n; ++c) {
        const S g0 = in[c], g1 = in[c + in_step], g2 = in[c + 2 * in_step], g3 = in[c + 3 * in_step];
        const S s02 = g0 + g2, s13 = g1 + g3, e02 = g0 + S(4) * g2, e13 = S(2) * g1 + S(8) * g3;
        out[c] = g0;
        out[c + out_step] = s02 + s13;
        out[c + 2 * out_step] = s02 - s13;
        out[c + 3 * out_step] = e02 + e13;
        out[c + 4 * out_step] = e02 - e13;
        out[c + 5 * out_step] = g3;
    }
}

// A 4-D tensor's data and strides, in elements.
template <typename T>
struct Strided {
    T* data;
    int64_t n, c, h, w;
};

template <typename T>
Strided<T> strided(const at::Tensor& t) {
    return {static_cast<T*>(t.data_ptr()), t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

// Loads n values `stride` apart into dst, converting to S (a contiguous run when stride is 1, as in channels_last).
template <typename T, typename S>
inline void load_lanes(const T* __restrict src, int64_t stride, int64_t n, S* __restrict dst) {
    if (stride == 1) {
        SG_VECTORIZE
        for (int64_t c = 0; c < n; ++c) dst[c] = S(src[c]);
    } else {
        for (int64_t c = 0; c < n; ++c) dst[c] = S(src[c * stride]);
    }
}

template <typename T, typename S>
inline void store_lanes(const S* __restrict src, int64_t n, T* __restrict dst, int64_t stride) {
    if (stride == 1) {
        SG_VECTORIZE
        for (int64_t c = 0; c < n; ++c) dst[c] = T(src[c]);
    } else {
        for (int64_t c = 0; c < n; ++c) dst[c * stride] = T(src[c]);
    }
}

// The tiles of a chunk of images, a row of tiles at a time: tile row r is image first_image + r / tiles_y, output
// rows 4 (r % tiles_y) to 4 (r % tiles_y) + 3; its tiles are r * tiles_x to r * tiles_x + tiles_x - 1 in V, M and dM.
struct TileGrid {
    int64_t height, width, tiles_y, tiles_x, first_image, rows;
    int64_t count() const { return rows * tiles_x; }
    int64_t band_width() const { return tiles_x * kTile + 2; }  // columns of an input band, padding included
};

// A band of `lanes` channels (from c0) of image n, rows y0 to y0 + rows - 1 and columns x0 to x0 + cols - 1, laid
// out [rows][cols][kLanes] in S, zeros outside the image. Reads whole image rows for NCHW, whole pixels for NHWC.
template <typename T, typename S>
inline void load_band(const Strided<const T> x, int64_t H, int64_t W, int64_t n, int64_t c0, int64_t lanes,
                      int64_t y0, int64_t rows, int64_t x0, int64_t cols, S* band) {
    const int64_t xa = std::min(std::max<int64_t>(x0, 0), x0 + cols), xb = std::max(std::min(x0 + cols, W), xa);
    for (int64_t i = 0; i < rows; ++i) {
        const int64_t yy = y0 + i;
        S* band_row = band + i * cols * kLanes;
        if (yy < 0 || yy >= H) {
            std::fill(band_row, band_row + cols * kLanes, S(0));
            continue;
        }
        std::fill(band_row, band_row + (xa - x0) * kLanes, S(0));
        std::fill(band_row + (xb - x0) * kLanes, band_row + cols * kLanes, S(0));
        const T* src = x.data + n * x.n + c0 * x.c + yy * x.h;
        S* dst = band_row + (xa - x0) * kLanes;
        if (x.c == 1 || x.w != 1) {  // channels innermost (or scattered): a run of channels per pixel
            for (int64_t xx = xa; xx < xb; ++xx) load_lanes(src + xx * x.w, x.c, lanes, dst + (xx - xa) * kLanes);
        } else {  // rows innermost: runs of pixels of kBlock channels at a time, transposed into the band
            for (int64_t cb = 0; cb < lanes; cb += kBlock) {
                const int64_t ce = std::min(cb + kBlock, lanes);
                for (int64_t xx = xa; xx < xb; ++xx)
                    for (int64_t c = cb; c < ce; ++c) dst[(xx - xa) * kLanes + c] = S(src[c * x.c + xx]);
            }
        }
    }
}

// V[t][p][c] = (B^T d B)[p] for the 6x6 patch d of x around each tile t of tile rows [r0, r1), zeros outside x.
template <typename T, typename S>
SG_CPU_MULTIVERSION void transform_inputs(const Strided<const T> x, int64_t C, const TileGrid g, int64_t r0,
                                          int64_t r1, S* V) {
    const int64_t bw = g.band_width();
    std::vector<S> band(kPatch * bw * kLanes), rows(kPoints * kLanes);
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = g.first_image + r / g.tiles_y, y0 = (r % g.tiles_y) * kTile - 1;
        for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
            const int64_t lanes = std::min(kLanes, C - c0);
            load_band(x, g.height, g.width, n, c0, lanes, y0, kPatch, -1, bw, band.data());
            for (int64_t tx = 0; tx < g.tiles_x; ++tx) {
                const S* patch = &band[tx * kTile * kLanes];  // patch[i][j] at (i * bw + j) * kLanes
                S* out = V + (r * g.tiles_x + tx) * kPoints * C + c0;
                for (int64_t j = 0; j < kPatch; ++j)  // along the rows of each column: rows[i][j]
                    input_axis(patch + j * kLanes, bw * kLanes, &rows[j * kLanes], kPatch * kLanes, lanes);
                for (int64_t i = 0; i < kPatch; ++i)  // along the columns of each row, into V
                    input_axis(&rows[i * kPatch * kLanes], kLanes, out + i * kPatch * C, C, lanes);
            }
        }
    }
}

// dM[t][p][k] = (A dY A^T)[p] for the 4x4 tile dY of the output gradient at each tile t of tile rows [r0, r1),
// zeros outside the image.
template <typename T, typename S>
SG_CPU_MULTIVERSION void transform_grads(const Strided<const T> grad, int64_t K, const TileGrid g, int64_t r0,
                                         int64_t r1, S* dM) {
    const int64_t bw = g.tiles_x * kTile;
    std::vector<S> band(kTile * bw * kLanes), rows(kPatch * kTile * kLanes);
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = g.first_image + r / g.tiles_y, y0 = (r % g.tiles_y) * kTile;
        for (int64_t k0 = 0; k0 < K; k0 += kLanes) {
            const int64_t lanes = std::min(kLanes, K - k0);
            load_band(grad, g.height, g.width, n, k0, lanes, y0, kTile, 0, bw, band.data());
            for (int64_t tx = 0; tx < g.tiles_x; ++tx) {
                const S* tile = &band[tx * kTile * kLanes];  // tile[i][j] at (i * bw + j) * kLanes
                S* out = dM + (r * g.tiles_x + tx) * kPoints * K + k0;
                for (int64_t j = 0; j < kTile; ++j)  // 4 rows -> 6, per column: rows[i][j]
                    grad_axis(tile + j * kLanes, bw * kLanes, &rows[j * kLanes], kTile * kLanes, lanes);
                for (int64_t i = 0; i < kPatch; ++i)  // 4 columns -> 6, per row, into dM
                    grad_axis(&rows[i * kTile * kLanes], kLanes, out + i * kPatch * K, K, lanes);
            }
        }
    }
}

// y at each tile t of tile rows [r0, r1) = A^T M[.][t] A, the part inside the image.
template <typename T, typename S>
SG_CPU_MULTIVERSION void transform_outputs(const S* M, int64_t K, const TileGrid g, int64_t r0, int64_t r1,
                                           Strided<T> y) {
    const int64_t bw = g.tiles_x * kTile, count = g.count();
    std::vector<S> band(kTile * bw * kLanes), rows(kTile * kPatch * kLanes);
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = g.first_image + r / g.tiles_y, y0 = (r % g.tiles_y) * kTile;
        const int64_t height = std::min(kTile, g.height - y0);
        for (int64_t k0 = 0; k0 < K; k0 += kLanes) {
            const int64_t lanes = std::min(kLanes, K - k0);
            for (int64_t tx = 0; tx < g.tiles_x; ++tx) {
                const S* points = M + (r * g.tiles_x + tx) * K + k0;  // point p at p * count * K
                for (int64_t j = 0; j < kPatch; ++j)  // 6 rows -> 4, per column: rows[i][j]
                    output_axis(points + j * count * K, kPatch * count * K, &rows[j * kLanes], kPatch * kLanes,
                                lanes);
                for (int64_t i = 0; i < kTile; ++i)  // 6 columns -> 4, per row, into the band
                    output_axis(&rows[i * kPatch * kLanes], kLanes, &band[(i * bw + tx * kTile) * kLanes], kLanes,
                                lanes);
            }
            T* dst = y.data + n * y.n + k0 * y.c + y0 * y.h;
            for (int64_t i = 0; i < height; ++i) {
                if (y.c == 1 || y.w != 1) {  // a run of channels per pixel
                    for (int64_t xx = 0; xx < g.width; ++xx)
                        store_lanes(&band[(i * bw + xx) * kLanes], lanes, dst + i * y.h + xx * y.w, y.c);
                } else {  // runs of pixels of kBlock channels at a time, transposed from the band
                    for (int64_t kb = 0; kb < lanes; kb += kBlock) {
                        const int64_t ke = std::min(kb + kBlock, lanes);
                        for (int64_t xx = 0; xx < g.width; ++xx)
                            for (int64_t k = kb; k < ke; ++k)
                                dst[i * y.h + k * y.c + xx] = T(band[(i * bw + xx) * kLanes + k]);
                    }
                }
            }
        }
    }
}

// kron(G, G) [36, 9]: the weight transform G w G^T of a flattened 3x3 kernel, one row per point.
at::Tensor weight_transform(const at::TensorOptions& opts) {
    at::Tensor gg = at::empty({kPoints, 9}, opts.dtype(at::kDouble).device(at::kCPU));
    double* d = gg.mutable_data_ptr<double>();
    for (int64_t i = 0; i < kPatch; ++i)
        for (int64_t j = 0; j < kPatch; ++j)
            for (int64_t a = 0; a < 3; ++a)
                for (int64_t b = 0; b < 3; ++b) d[(i * kPatch + j) * 9 + a * 3 + b] = kG[i][a] * kG[j][b];
    return gg.to(opts.dtype());
}

int64_t images_per_chunk(int64_t tiles_per_image, int64_t channels, int64_t element_size) {
    const int64_t image_bytes = kPoints * tiles_per_image * std::max<int64_t>(channels, 1) * element_size;
    return std::max({int64_t(1), kChunkBytes / image_bytes, (kMinTiles + tiles_per_image - 1) / tiles_per_image});
}

// Runs body(grid) for each chunk of images; the body runs parallel_for over the chunk's tile rows.
template <typename Body>
void for_each_chunk(int64_t N, int64_t H, int64_t W, int64_t channels, int64_t element_size, const Body& body) {
    const int64_t tiles_y = (H + kTile - 1) / kTile, tiles_x = (W + kTile - 1) / kTile;
    const int64_t chunk = images_per_chunk(tiles_y * tiles_x, channels, element_size);
    for (int64_t n0 = 0; n0 < N; n0 += chunk)
        body(TileGrid{H, W, tiles_y, tiles_x, n0, std::min(chunk, N - n0) * tiles_y});
}

// Grain of parallel_for over tile rows: a few thousand channel-tiles of work per task.
int64_t row_grain(const TileGrid& g, int64_t channels) {
    return std::max<int64_t>(1, 4096 / std::max<int64_t>(g.tiles_x * channels, 1));
}

// Whether the tile transforms pay for themselves: below 16x16 images a direct convolution is as fast or faster on
// this kind of CPU (benchmarks/RESULTS.md), so those go to at::conv2d.
bool use_winograd(int64_t H, int64_t W) { return H * W >= 256; }

at::Tensor conv3x3_cpu(const at::Tensor& x, const at::Tensor& w) {
    check_conv3x3(x, w);
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = w.size(0);
    if (!use_winograd(H, W) && x.numel() > 0 && w.numel() > 0)
        return at::conv2d(x, w, {}, 1, 1).contiguous(output_memory_format(x));
    at::Tensor y = conv3x3_output(x, w);
    if (y.numel() == 0) return y;
    if (C == 0) return y.zero_();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "conv3x3_cpu", [&] {
        using S = at::opmath_type<scalar_t>;
        const auto opts = x.options().dtype(c10::CppTypeToScalarType<S>::value);
        // U [36, C, K], as the transpose of [36, K, C] = kron(G, G) [36, 9] @ w [K * C, 9]^T.
        const at::Tensor U =
            at::matmul(weight_transform(opts), w.to(opts.dtype()).reshape({K * C, 9}).t()).view({kPoints, K, C})
                .transpose(1, 2);
        const Strided<const scalar_t> xs = strided<const scalar_t>(x);
        const Strided<scalar_t> ys = strided<scalar_t>(y);
        at::Tensor V, M;
        for_each_chunk(N, H, W, std::max(C, K), sizeof(S), [&](const TileGrid& g) {
            if (!V.defined() || V.size(1) != g.count()) {
                V = at::empty({g.count(), kPoints, C}, opts).transpose(0, 1);  // tile-major, seen as [36, tiles, C]
                M = at::empty({kPoints, g.count(), K}, opts);
            }
            S* v = V.mutable_data_ptr<S>();
            at::parallel_for(0, g.rows, row_grain(g, C), [&](int64_t r0, int64_t r1) {
                transform_inputs<scalar_t, S>(xs, C, g, r0, r1, v);
            });
            at::bmm_out(M, V, U);
            const S* m = M.const_data_ptr<S>();
            at::parallel_for(0, g.rows, row_grain(g, K), [&](int64_t r0, int64_t r1) {
                transform_outputs<scalar_t, S>(m, K, g, r0, r1, ys);
            });
        });
    });
    return y;
}

at::Tensor conv3x3_weight_grad_cpu(const at::Tensor& grad, const at::Tensor& x) {
    check_conv3x3_weight_grad(grad, x);
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = grad.size(1);
    if (N == 0 || H == 0 || W == 0 || C == 0 || K == 0) return at::zeros({K, C, 3, 3}, x.options());
    if (!use_winograd(H, W)) {
        const at::Tensor w = at::empty({K, C, 3, 3}, x.options());
        return std::get<1>(at::convolution_backward(grad, x, w, std::nullopt, {1, 1}, {1, 1}, {1, 1}, false, {0, 0},
                                                    1, {false, true, false}))
            .contiguous();
    }
    at::Tensor dw;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "conv3x3_weight_grad_cpu", [&] {
        using S = at::opmath_type<scalar_t>;
        const auto opts = x.options().dtype(c10::CppTypeToScalarType<S>::value);
        at::Tensor dU = at::zeros({kPoints, K, C}, opts);
        const Strided<const scalar_t> xs = strided<const scalar_t>(x), gs = strided<const scalar_t>(grad);
        at::Tensor V, dM;
        for_each_chunk(N, H, W, std::max(C, K), sizeof(S), [&](const TileGrid& g) {
            if (!V.defined() || V.size(1) != g.count()) {  // tile-major, seen as [36, tiles, channels]
                V = at::empty({g.count(), kPoints, C}, opts).transpose(0, 1);
                dM = at::empty({g.count(), kPoints, K}, opts).transpose(0, 1);
            }
            S* v = V.mutable_data_ptr<S>();
            S* dm = dM.mutable_data_ptr<S>();
            at::parallel_for(0, g.rows, row_grain(g, std::max(C, K)), [&](int64_t r0, int64_t r1) {
                transform_inputs<scalar_t, S>(xs, C, g, r0, r1, v);
                transform_grads<scalar_t, S>(gs, K, g, r0, r1, dm);
            });
            dU.baddbmm_(dM.transpose(1, 2), V);  // [36, K, C] += sum over tiles
        });
        // dw [K, C, 3, 3] = (kron(G, G)^T [9, 36] @ dU [36, K * C])^T.
        dw = at::matmul(weight_transform(opts).t(), dU.view({kPoints, K * C})).t().contiguous().view({K, C, 3, 3})
                 .to(x.scalar_type());
    });
    return dw;
}

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CPU, m) {
    m.impl("conv3x3", &conv3x3_cpu);
    m.impl("conv3x3_weight_grad", &conv3x3_weight_grad_cpu);
}

}  // namespace stylegan_ops
