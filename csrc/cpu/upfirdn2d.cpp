// upfirdn2d on the CPU, polyphase: only the kept outputs are computed, and only from the filter taps that land on
// input pixels (never on the inserted zeros).
//
// NCHW (any strides) without upsampling: see upfirdn2d_cpu_planes_flat. With upsampling: each plane's input rows
// are first converted to the accumulation type into a zero-bordered buffer, deinterleaved by `down_x` when
// down-sampling. An output row is then a sum over the filter rows that land on input rows of "shifted input row times
// tap", evaluated as contiguous loops over outputs that the compiler vectorizes: up_x == 1 (any down_x) and
// down_x == 1 (any up_x, one pass per output phase) take this path, other combinations a scalar loop.
// Channels_last: each output pixel accumulates its taps over a contiguous run of channels.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../upfirdn2d_impl.h"
#include "multiversion.h"

namespace stylegan_ops {
namespace {

// acc[i] += sum_t w[t] * src[t][i] for i < n, with NT taps unrolled.
template <int NT, typename S>
SG_CPU_MULTIVERSION void accumulate_taps(S* __restrict acc, int64_t n, const S* const* src, const S* w) {
    const S* __restrict p[NT];
    S c[NT];
    for (int t = 0; t < NT; ++t) {
        p[t] = src[t];
        c[t] = w[t];
    }
    for (int64_t i = 0; i < n; ++i) {
        S s = acc[i];
        for (int t = 0; t < NT; ++t) s += c[t] * p[t][i];
        acc[i] = s;
    }
}

template <typename S>
void accumulate_taps(S* acc, int64_t n, const S* const* src, const S* w, int ntaps) {
    for (; ntaps >= 8; ntaps -= 8, src += 8, w += 8) accumulate_taps<8>(acc, n, src, w);
    switch (ntaps) {
        case 7: accumulate_taps<7>(acc, n, src, w); break;
        case 6: accumulate_taps<6>(acc, n, src, w); break;
        case 5: accumulate_taps<5>(acc, n, src, w); break;
        case 4: accumulate_taps<4>(acc, n, src, w); break;
        case 3: accumulate_taps<3>(acc, n, src, w); break;
        case 2: accumulate_taps<2>(acc, n, src, w); break;
        case 1: accumulate_taps<1>(acc, n, src, w); break;
        default: break;
    }
}

// acc[i] += sum_k weight(k) * source(k)[i] over `count` taps, in chunks the unrolled loops take.
template <typename S, typename Source, typename Weight>
void accumulate(S* acc, int64_t n, int count, Source source, Weight weight) {
    constexpr int kChunk = 32;
    const S* src[kChunk];
    S wt[kChunk];
    for (int k0 = 0; k0 < count; k0 += kChunk) {
        const int m = std::min(kChunk, count - k0);
        for (int k = 0; k < m; ++k) {
            src[k] = source(k0 + k);
            wt[k] = weight(k0 + k);
        }
        accumulate_taps(acc, n, src, wt, m);
    }
}

// How one pass filters a row: the layout of a prepared input row and where each tap reads in it.
template <typename S>
struct RowPlan {
    enum class Kind { Down, Up, Generic } kind;
    int lo = 0;                    // input column held at position 0 of a prepared row
    int len = 0;                   // prepared row length
    std::vector<int> phase_start;  // Down: start of each of the down_x deinterleaved phases in a prepared row
    std::vector<int> tap_offset;   // Down: where tap t reads for output 0; Up: the same per (phase, listed tap)
    std::vector<int> phase_taps;   // Up: for phase r, its taps at r * max_taps .. + phase_count[r]
    std::vector<int> phase_count;  // Up: number of taps per phase
    std::vector<int> out_start;    // Up: first accumulator of each output phase (outputs r, r + up_x, ...)
    int max_taps = 0;

    explicit RowPlan(const Upfirdn2dParams& p) {
        const int ux = p.up_x, dx = p.down_x, fw = p.filter_w, ow = p.out_w;
        lo = floor_div(-p.pad_x0, ux);
        const int hi = floor_div((ow - 1) * dx + fw - 1 - p.pad_x0, ux);
        len = hi - lo + 1;
        if (ux == 1) {
            kind = Kind::Down;
            // Input column lo + j sits in phase j % dx at index j / dx; output o, tap t reads column lo + o*dx + t.
            for (int r = 0, start = 0; r < dx; ++r) {
                phase_start.push_back(start);
                start += (len - r + dx - 1) / dx;
            }
            for (int t = 0; t < fw; ++t) tap_offset.push_back(phase_start[t % dx] + t / dx);
        } else if (dx == 1) {
            kind = Kind::Up;
            // Output o = ux*a + r, tap t (t + r - pad_x0 a multiple of ux) reads column a + (r + t - pad_x0) / ux.
            max_taps = (fw + ux - 1) / ux;
            for (int r = 0, start = 0; r < ux; ++r) {
                out_start.push_back(start);
                start += (ow - r + ux - 1) / ux;
                int count = 0;
                for (int t = floor_mod(p.pad_x0 - r, ux); t < fw; t += ux, ++count) {
                    phase_taps.push_back(t);
                    tap_offset.push_back(floor_div(r + t - p.pad_x0, ux) - lo);
                }
                phase_count.push_back(count);
                phase_taps.resize((r + 1) * max_taps, 0);
                tap_offset.resize((r + 1) * max_taps, 0);
            }
        } else {
            kind = Kind::Generic;
        }
    }

    // Writes input row `x` (stride sw) as a prepared row.
    template <typename T>
    void prepare(const T* x, int64_t sw, int in_w, int down_x, S* row) const {
        if (kind != Kind::Down || down_x == 1) {  // in order: zeros, the row, zeros
            const int first = std::clamp(-lo, 0, len), last = std::clamp(in_w - lo, first, len);
            std::fill(row, row + first, S(0));
            for (int j = first; j < last; ++j) row[j] = S(x[(lo + j) * sw]);
            std::fill(row + last, row + len, S(0));
            return;
        }
        for (int j = 0; j < len; ++j) {
            const int i = lo + j;
            const S v = (i >= 0 && i < in_w) ? S(x[i * sw]) : S(0);
            if (kind == Kind::Down) row[phase_start[j % down_x] + j / down_x] = v;
            else row[j] = v;
        }
    }

    // acc[...] += the contribution of one prepared input row filtered with one tap row w (filter_w taps).
    void apply(S* acc, const S* row, const S* w, const Upfirdn2dParams& p) const {
        if (kind == Kind::Down) {
            accumulate(acc, p.out_w, p.filter_w, [&](int t) { return row + tap_offset[t]; },
                       [&](int t) { return w[t]; });
        } else if (kind == Kind::Up) {
            for (int r = 0; r < p.up_x; ++r) {
                const int* offset = &tap_offset[r * max_taps];
                const int* tap = &phase_taps[r * max_taps];
                const int64_t n = (p.out_w - r + p.up_x - 1) / p.up_x;
                accumulate(acc + out_start[r], n, phase_count[r], [&](int k) { return row + offset[k]; },
                           [&](int k) { return w[tap[k]]; });
            }
        } else {
            for (int o = 0; o < p.out_w; ++o) {
                const FirstTap ft = first_tap(o, p.up_x, p.down_x, p.pad_x0);
                S s = acc[o];
                for (int t = ft.tap, i = ft.pixel; t < p.filter_w; t += p.up_x, ++i) s += w[t] * row[i - lo];
                acc[o] = s;
            }
        }
    }

    // Output column of each accumulator.
    std::vector<int> columns(int out_w, int up_x) const {
        std::vector<int> col(out_w);
        for (int k = 0; k < out_w; ++k) col[k] = k;
        if (kind == Kind::Up) {
            for (int r = 0; r < up_x; ++r)
                for (int a = 0, k = out_start[r]; a * up_x + r < out_w; ++a, ++k) col[k] = a * up_x + r;
        }
        return col;
    }

};

template <typename T>
void upfirdn2d_cpu_planes(const Upfirdn2dParams& p) {
    using S = at::opmath_type<T>;
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    const S* f = static_cast<const S*>(p.f);
    std::vector<S> taps(int64_t(p.filter_h) * p.filter_w);
    for (int ty = 0; ty < p.filter_h; ++ty)
        for (int tx = 0; tx < p.filter_w; ++tx)
            taps[ty * p.filter_w + tx] = upfirdn2d_tap(f, ty, tx, p.filter_h, p.filter_w, p.flip_filter, S(p.gain));
    const RowPlan<S> plan(p);
    const std::vector<int> columns = plan.columns(p.out_w, p.up_x);

    const int64_t planes = p.batch * p.channels;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / (int64_t(p.out_h) * p.out_w));
    at::parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
        std::vector<S> prepared(int64_t(p.in_h) * plan.len);
        std::vector<S> acc(p.out_w);
        for (int64_t plane = begin; plane < end; ++plane) {
            const int64_t n = plane / p.channels, c = plane % p.channels;
            const T* xp = x + n * p.x_stride[0] + c * p.x_stride[1];
            T* yp = y + n * p.y_stride[0] + c * p.y_stride[1];
            for (int iy = 0; iy < p.in_h; ++iy)
                plan.prepare(xp + iy * p.x_stride[2], p.x_stride[3], p.in_w, p.down_x, &prepared[iy * plan.len]);
            for (int oy = 0; oy < p.out_h; ++oy) {
                std::fill(acc.begin(), acc.end(), S(0));
                const FirstTap ft = first_tap(oy, p.up_y, p.down_y, p.pad_y0);
                for (int ty = ft.tap, iy = ft.pixel; ty < p.filter_h; ty += p.up_y, ++iy) {
                    if (iy < 0 || iy >= p.in_h) continue;
                    plan.apply(acc.data(), &prepared[iy * plan.len], &taps[ty * p.filter_w], p);
                }
                T* yrow = yp + oy * p.y_stride[2];
                for (int k = 0; k < p.out_w; ++k) yrow[columns[k] * p.y_stride[3]] = T(acc[k]);
            }
        }
    });
}

// NCHW without upsampling (filtering, downsampling): the plane is prepared whole, its rows deinterleaved by down_y
// like its columns by down_x, so that every tap (ty, tx) reads the prepared plane at one constant offset from the
// output position when the output rows are laid out with the prepared row length as their stride. A block of output
// rows (or a group of small planes) is then one long vectorized loop per group of taps instead of a short one per
// row and tap row; the columns past out_w in each row (and the rows between planes) are computed and dropped.
template <typename T>
void upfirdn2d_cpu_planes_flat(const Upfirdn2dParams& p) {
    using S = at::opmath_type<T>;
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    const S* f = static_cast<const S*>(p.f);
    const RowPlan<S> plan(p);
    const int dy = p.down_y, fh = p.filter_h, fw = p.filter_w;
    const int lo_y = -p.pad_y0;
    const int rows = (p.out_h - 1) * dy + fh;  // prepared rows: input rows lo_y .. lo_y + rows - 1
    std::vector<int> row_start;                // where each down_y phase of the rows begins
    for (int r = 0, start = 0; r < dy; ++r) {
        row_start.push_back(start);
        start += (rows - r + dy - 1) / dy;
    }
    std::vector<S> taps;
    std::vector<int64_t> offsets;  // of each tap, in the prepared plane, for output (0, 0)
    for (int ty = 0; ty < fh; ++ty)
        for (int tx = 0; tx < fw; ++tx) {
            taps.push_back(upfirdn2d_tap(f, ty, tx, fh, fw, p.flip_filter, S(p.gain)));
            offsets.push_back(int64_t(row_start[ty % dy] + ty / dy) * plan.len + plan.tap_offset[tx]);
        }
    const int64_t len = plan.len;
    // Small planes go in groups, laid out one after another with a zero row between them (so that one plane's taps
    // never read the next), as one loop; large ones in blocks of output rows. Either way about 4096 accumulators.
    const int64_t plane_size = int64_t(rows + 1) * len;
    const int group = int(std::max<int64_t>(1, 4096 / plane_size));
    const int block = group > 1 ? p.out_h : int(std::max<int64_t>(1, 4096 / len));

    const int64_t planes = p.batch * p.channels;
    const int64_t grain = std::max<int64_t>(group, (int64_t(1) << 16) / (int64_t(p.out_h) * p.out_w));
    at::parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
        std::vector<S> prepared(group * plane_size + len, S(0));
        std::vector<S> acc(group > 1 ? group * plane_size : block * len);
        for (int64_t first = begin; first < end; first += group) {
            const int g = int(std::min<int64_t>(group, end - first));
            for (int k = 0; k < g; ++k) {
                const int64_t n = (first + k) / p.channels, c = (first + k) % p.channels;
                const T* xp = x + n * p.x_stride[0] + c * p.x_stride[1];
                for (int j = 0; j < rows; ++j) {
                    S* dst = &prepared[k * plane_size + int64_t(row_start[j % dy] + j / dy) * len];
                    const int iy = lo_y + j;
                    if (iy >= 0 && iy < p.in_h)
                        plan.prepare(xp + iy * p.x_stride[2], p.x_stride[3], p.in_w, p.down_x, dst);
                    else
                        std::fill(dst, dst + len, S(0));
                }
            }
            for (int oy0 = 0; oy0 < p.out_h; oy0 += block) {
                const int b = std::min(block, p.out_h - oy0);
                const int64_t count = (g - 1) * plane_size + (b - 1) * len + p.out_w;
                std::fill(acc.begin(), acc.begin() + count, S(0));
                const S* base = &prepared[oy0 * len];
                accumulate(acc.data(), count, int(taps.size()), [&](int k) { return base + offsets[k]; },
                           [&](int k) { return taps[k]; });
                for (int k = 0; k < g; ++k) {
                    const int64_t n = (first + k) / p.channels, c = (first + k) % p.channels;
                    T* yp = y + n * p.y_stride[0] + c * p.y_stride[1];
                    for (int r = 0; r < b; ++r) {
                        T* yrow = yp + (oy0 + r) * p.y_stride[2];
                        const S* a = &acc[k * plane_size + r * len];
                        for (int ox = 0; ox < p.out_w; ++ox) yrow[ox * p.y_stride[3]] = T(a[ox]);
                    }
                }
            }
        }
    });
}

// The taps of one axis that land on input pixels, per output position: for output o, count[o] taps from
// o * max_taps on, each with its filter index and the offset (in elements) of the input pixel it reads.
struct AxisTaps {
    int max_taps = 0;
    std::vector<int> count, tap;
    std::vector<int64_t> offset;

    AxisTaps(int out, int up, int down, int pad0, int filter, int in, int64_t stride) {
        max_taps = (filter + up - 1) / up;
        count.assign(out, 0);
        tap.assign(int64_t(out) * max_taps, 0);
        offset.assign(tap.size(), 0);
        for (int o = 0; o < out; ++o) {
            const FirstTap first = first_tap(o, up, down, pad0);
            for (int t = first.tap, i = first.pixel; t < filter; t += up, ++i) {
                if (i < 0 || i >= in) continue;
                const int64_t slot = int64_t(o) * max_taps + count[o]++;
                tap[slot] = t;
                offset[slot] = i * stride;
            }
        }
    }
};

#if defined(__GNUC__)
// Four vectors of 32 bytes: GCC's and clang's generic vectors, which each clone of a SG_CPU_MULTIVERSION function
// compiles for its own target (AVX2: four registers; the baseline: pairs of SSE registers).
template <typename S>
struct Vec32Of;
template <>
struct Vec32Of<float> {
    typedef float type __attribute__((vector_size(32)));
};
template <>
struct Vec32Of<double> {
    typedef double type __attribute__((vector_size(32)));
};
template <typename S>
using Vec32 = typename Vec32Of<S>::type;

// By reference, not by value: the baseline clone has no 32-byte registers to pass them in.
template <typename S>
SG_ALWAYS_INLINE void add_scaled32(Vec32<S>& acc, S w, const S* p) {
    Vec32<S> v;
    __builtin_memcpy(&v, p, sizeof(v));
    acc += w * v;
}

template <typename S>
SG_ALWAYS_INLINE void store32(S* p, const Vec32<S>& v) { __builtin_memcpy(p, &v, sizeof(v)); }
#endif

// Calls body(offset of the input pixel, weight) for each tap of one output pixel: the row's taps times the column's.
template <typename S, typename Body>
SG_ALWAYS_INLINE void for_each_tap(const int* row_tap, const int64_t* row_offset, int row_count, const AxisTaps& cols,
                                   int ox, const S* weight, int filter_w, Body body) {
    const int64_t first = int64_t(ox) * cols.max_taps;
    for (int j = 0; j < row_count; ++j) {
        const S* w = weight + row_tap[j] * filter_w;
        for (int k = 0; k < cols.count[ox]; ++k) body(row_offset[j] + cols.offset[first + k], w[cols.tap[first + k]]);
    }
}

// One output row in channels_last: output pixel ox sums, over the row's taps ty (input row offsets row_offset) and
// the column taps of ox, filter weight times the C channels of the input pixel. With x in the accumulation type the
// channels go in blocks of four vectors that stay in registers over all the taps (accumulating in memory, one load
// and one store per tap and channel, made the 4x4 filters of a training step 2-5x slower); otherwise (half, bfloat16),
// and for the last channels, in blocks of accumulators in memory.
template <typename T, typename S>
SG_CPU_MULTIVERSION void filter_row_channels_last(const T* __restrict x, const int* row_tap, const int64_t* row_offset,
                                                  int row_count, const AxisTaps& cols, const S* weight, int filter_w,
                                                  int64_t C, T* __restrict y, int64_t y_pixel_stride, int out_w) {
    constexpr int64_t kBlock = 128 / sizeof(S);  // channels per block: 32 floats, four vectors of 32 bytes
    for (int ox = 0; ox < out_w; ++ox) {
        T* dst = y + ox * y_pixel_stride;
        int64_t c0 = 0;
#if defined(__GNUC__)
        if constexpr (std::is_same_v<T, S>) {
            constexpr int64_t kLanes = kBlock / 4;
            for (; c0 + kBlock <= C; c0 += kBlock) {
                Vec32<S> a0 = {}, a1 = {}, a2 = {}, a3 = {};
                for_each_tap(row_tap, row_offset, row_count, cols, ox, weight, filter_w,
                             [&](int64_t offset, S wt) SG_INLINE_LAMBDA {
                                 const S* src = x + offset + c0;
                                 add_scaled32(a0, wt, src);
                                 add_scaled32(a1, wt, src + kLanes);
                                 add_scaled32(a2, wt, src + 2 * kLanes);
                                 add_scaled32(a3, wt, src + 3 * kLanes);
                             });
                store32(dst + c0, a0);
                store32(dst + c0 + kLanes, a1);
                store32(dst + c0 + 2 * kLanes, a2);
                store32(dst + c0 + 3 * kLanes, a3);
            }
        }
#endif
        for (; c0 < C; c0 += kBlock) {
            const int64_t m = std::min(kBlock, C - c0);
            S a[kBlock] = {};
            for_each_tap(row_tap, row_offset, row_count, cols, ox, weight, filter_w,
                         [&](int64_t offset, S wt) SG_INLINE_LAMBDA {
                             const T* src = x + offset + c0;
                             for (int64_t i = 0; i < m; ++i) a[i] += wt * S(src[i]);
                         });
            for (int64_t i = 0; i < m; ++i) dst[c0 + i] = T(a[i]);
        }
    }
}

// Channels_last: channels are contiguous in x and y. The taps that land on input pixels are listed once per call
// for the columns and once per row for the rows; each output pixel then sums them over the channels.
template <typename T>
void upfirdn2d_cpu_channels_last(const Upfirdn2dParams& p) {
    using S = at::opmath_type<T>;
    TORCH_INTERNAL_ASSERT(p.x_stride[1] == 1 && p.y_stride[1] == 1);
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    const S* f = static_cast<const S*>(p.f);
    const int fh = p.filter_h, fw = p.filter_w;
    std::vector<S> weight(int64_t(fh) * fw);
    for (int ty = 0; ty < fh; ++ty)
        for (int tx = 0; tx < fw; ++tx)
            weight[ty * fw + tx] = upfirdn2d_tap(f, ty, tx, fh, fw, p.flip_filter, S(p.gain));
    const AxisTaps cols(p.out_w, p.up_x, p.down_x, p.pad_x0, fw, p.in_w, p.x_stride[3]);
    const AxisTaps rows_taps(p.out_h, p.up_y, p.down_y, p.pad_y0, fh, p.in_h, p.x_stride[2]);
    const int64_t rows = p.batch * p.out_h;
    const int64_t row_values = std::max<int64_t>(int64_t(p.out_w) * p.channels, 1);
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / row_values);
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
            const int64_t n = row / p.out_h;
            const int oy = int(row % p.out_h);
            const int64_t first = int64_t(oy) * rows_taps.max_taps;
            filter_row_channels_last<T, S>(x + n * p.x_stride[0], &rows_taps.tap[first], &rows_taps.offset[first],
                                           rows_taps.count[oy], cols, weight.data(), fw, p.channels,
                                           y + n * p.y_stride[0] + oy * p.y_stride[2], p.y_stride[3], p.out_w);
        }
    });
}

void run_upfirdn2d_cpu(const Upfirdn2dParams& p) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, scalar_type_of(p.dtype), "upfirdn2d_cpu", [&] {
        if (p.channels_last) upfirdn2d_cpu_channels_last<scalar_t>(p);
        else if (p.up_x == 1 && p.up_y == 1) upfirdn2d_cpu_planes_flat<scalar_t>(p);
        else upfirdn2d_cpu_planes<scalar_t>(p);
    });
}

using CpuOps = Upfirdn2dOps<run_upfirdn2d_cpu, NoDeviceGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CPU, m) { m.impl("upfirdn2d", &CpuOps::forward); }

}  // namespace stylegan_ops
