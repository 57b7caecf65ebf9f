// filtered_lrelu on the CPU: one plane per task, streamed row by row so that the upsampled buffer never exists whole.
//
// For each buffer row i (in order): the input rows its upsampling taps land on, filtered vertically (polyphase: only
// the taps that meet an input row), then horizontally into the buffer row (polyphase, one contiguous loop per phase
// and tap); the activation, writing or reading the 2-bit signs; the row goes into a ring of fd_h rows. When the ring
// holds the rows of output row o, the downsampling filter runs over them (vertical, then horizontal on the
// deinterleaved phases) and row o is written. Each buffer element is computed once; the working set is a few rows.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../filtered_lrelu_impl.h"
#include "multiversion.h"

namespace stylegan_ops {
namespace {

// The polyphase plan of upsampling by `up` along one axis: buffer position j = r + up * m reads input pixels
// m + first_pixel[r] + t with taps first_tap[r] + up * t, t < num_taps[r].
struct Polyphase {
    int up;
    std::vector<int> first_tap, first_pixel, num_taps;

    Polyphase(int up_, int pad0, int taps) : up(up_), first_tap(up_), first_pixel(up_), num_taps(up_) {
        for (int r = 0; r < up; ++r) {
            first_tap[r] = floor_mod(pad0 - r, up);
            first_pixel[r] = (r + first_tap[r] - pad0) / up;  // exact: r + first_tap - pad0 is a multiple of up
            num_taps[r] = first_tap[r] < taps ? (taps - first_tap[r] + up - 1) / up : 0;
        }
    }
};

// out[m] (+)= sum_t g[t * step] * in[m + t] for m < n: one phase of a polyphase filter, contiguous in m.
template <typename S>
SG_CPU_MULTIVERSION void fir_phase(const S* __restrict in, const S* __restrict g, int step, int taps, S* __restrict out,
                                   int n) {
    for (int t = 0; t < taps; ++t) {
        const S w = g[t * step];
        const S* src = in + t;
        SG_VECTORIZE
        for (int m = 0; m < n; ++m) out[m] += w * src[m];
    }
}

// acc[j] += sum_k w[k] * rows[k][j] over a run: the vertical pass of a filter.
template <typename S>
SG_CPU_MULTIVERSION void axpy(S w, const S* __restrict row, S* __restrict acc, int n) {
    SG_VECTORIZE
    for (int j = 0; j < n; ++j) acc[j] += w * row[j];
}

template <typename T>
struct PlaneKernel {
    using S = at::opmath_type<T>;
    const FilteredLreluParams& p;
    int buf_h, buf_w;     // buffer rows and columns that some output reads
    int margin_l, row_len;  // the padded input row: pixel q at margin_l + q, zeros around
    Polyphase ux, uy;
    std::vector<S> gu, gd;  // taps in correlation order, gu scaled by up per axis (separable) or up * up (2-D)

    explicit PlaneKernel(const FilteredLreluParams& params)
        : p(params),
          buf_h((params.out_h - 1) * params.down + params.fd_h),
          buf_w((params.out_w - 1) * params.down + params.fd_w),
          ux(params.up, params.pad_x0, params.fu_w),
          uy(params.up, params.pad_y0, params.fu_h) {
        const S* fu = static_cast<const S*>(p.fu);
        const S* fd = static_cast<const S*>(p.fd);
        const S up_gain = p.fu_separable ? S(p.up) : S(p.up * p.up);
        const int uh = p.fu_separable ? 1 : p.fu_h, dh = p.fd_separable ? 1 : p.fd_h;
        for (int ky = 0; ky < uh; ++ky)
            for (int kx = 0; kx < p.fu_w; ++kx) gu.push_back(filtered_lrelu_tap(fu, ky, kx, uh, p.fu_w, p.flip_filter) * up_gain);
        for (int ky = 0; ky < dh; ++ky)
            for (int kx = 0; kx < p.fd_w; ++kx) gd.push_back(filtered_lrelu_tap(fd, ky, kx, dh, p.fd_w, p.flip_filter));
        int lo = 0, hi = p.in_w - 1;
        for (int r = 0; r < p.up; ++r) {
            const int count = r < buf_w ? (buf_w - r + p.up - 1) / p.up : 0;
            if (count == 0 || ux.num_taps[r] == 0) continue;
            lo = std::min(lo, ux.first_pixel[r]);
            hi = std::max(hi, count - 1 + ux.first_pixel[r] + ux.num_taps[r] - 1);
        }
        margin_l = -lo;
        row_len = hi - lo + 1;
    }

    // The vertical taps of buffer row i along the up axis: (first tap, first input row, number of taps).
    void row_taps(int i, int& tap, int& row, int& count) const {
        tap = floor_mod(p.pad_y0 - i, p.up);
        row = floor_div(i + tap - p.pad_y0, p.up);
        count = tap < p.fu_h ? (p.fu_h - tap + p.up - 1) / p.up : 0;
    }

    // Upsampling filter g (a 1-D row filter) over the padded input row `in`, added into the buffer row `out`.
    void upsample_row(const S* in, const S* g, S* out, std::vector<S>& phase) const {
        for (int r = 0; r < p.up; ++r) {
            const int count = r < buf_w ? (buf_w - r + p.up - 1) / p.up : 0;
            if (count == 0 || ux.num_taps[r] == 0) continue;
            if (p.up == 1) {
                fir_phase(in + margin_l + ux.first_pixel[r], g + ux.first_tap[r], 1, ux.num_taps[r], out, count);
                continue;
            }
            std::fill(phase.begin(), phase.begin() + count, S(0));
            fir_phase(in + margin_l + ux.first_pixel[r], g + ux.first_tap[r], p.up, ux.num_taps[r], phase.data(), count);
            for (int m = 0; m < count; ++m) out[r + p.up * m] += phase[m];
        }
    }

    // Downsampling filter g (a 1-D row filter) over buffer row `in`: out[q] (+)= sum_k g[k] in[q * down + k].
    void downsample_row(const S* in, const S* g, S* out, std::vector<S>& phases) const {
        const int d = p.down;
        if (d == 1) {
            fir_phase(in, g, 1, p.fd_w, out, p.out_w);
            return;
        }
        const int len = (buf_w + d - 1) / d;  // phase r holds in[m * d + r]
        for (int r = 0; r < d; ++r)
            for (int m = 0; m * d + r < buf_w; ++m) phases[r * len + m] = in[m * d + r];
        for (int r = 0; r < d && r < p.fd_w; ++r)
            fir_phase(phases.data() + r * len, g + r, d, (p.fd_w - r + d - 1) / d, out, p.out_w);
    }

    void run_plane(int64_t plane) const {
        const int64_t n = plane / p.channels, c = plane % p.channels;
        const T* x = static_cast<const T*>(p.x) + n * p.x_stride[0] + c * p.x_stride[1];
        T* y = static_cast<T*>(p.y) + n * p.y_stride[0] + c * p.y_stride[1];
        const S bias = p.b != nullptr ? S(static_cast<const T*>(p.b)[c]) : S(0);
        uint8_t* signs = p.signs != nullptr ? p.signs + plane * int64_t(p.sign_h) * p.sign_row_bytes : nullptr;
        const S gain = S(p.gain), slope = S(p.slope), clamp = S(p.clamp);

        std::vector<S> in(row_len), vert(row_len), phase(buf_w / p.up + 2), ring(size_t(p.fd_h) * buf_w);
        std::vector<S> column(buf_w), phases(size_t(p.down) * ((buf_w + p.down - 1) / p.down)), out(p.out_w);

        for (int i = 0; i < buf_h; ++i) {
            const bool needed = p.fd_h >= p.down || i % p.down < p.fd_h;
            S* a = ring.data() + size_t(i % p.fd_h) * buf_w;
            if (needed) {
                std::fill(a, a + buf_w, S(0));
                int tap, row, count;
                row_taps(i, tap, row, count);
                if (p.fu_separable) std::fill(vert.begin(), vert.end(), S(0));
                for (int t = 0; t < count; ++t, tap += p.up, ++row) {
                    if (row < 0 || row >= p.in_h) continue;
                    const T* xr = x + row * p.x_stride[2];
                    if (p.fu_separable) {
                        const S w = gu[tap];  // separable: the same taps along y
                        for (int q = 0; q < p.in_w; ++q) vert[margin_l + q] += w * (S(xr[q * p.x_stride[3]]) + bias);
                    } else {
                        for (int q = 0; q < p.in_w; ++q) in[margin_l + q] = S(xr[q * p.x_stride[3]]) + bias;
                        upsample_row(in.data(), gu.data() + size_t(tap) * p.fu_w, a, phase);
                    }
                }
                if (p.fu_separable) upsample_row(vert.data(), gu.data(), a, phase);
                activate_row(a, i, signs, gain, slope, clamp);
            }
            const int last = i - (p.fd_h - 1);  // output row o is complete once row o * down + fd_h - 1 is in
            if (last < 0 || last % p.down != 0) continue;
            const int o = last / p.down;
            std::fill(out.begin(), out.end(), S(0));
            if (p.fd_separable) {
                std::fill(column.begin(), column.end(), S(0));
                for (int ky = 0; ky < p.fd_h; ++ky)
                    axpy(gd[ky], ring.data() + size_t((o * p.down + ky) % p.fd_h) * buf_w, column.data(), buf_w);
                downsample_row(column.data(), gd.data(), out.data(), phases);
            } else {
                for (int ky = 0; ky < p.fd_h; ++ky)
                    downsample_row(ring.data() + size_t((o * p.down + ky) % p.fd_h) * buf_w, gd.data() + size_t(ky) * p.fd_w,
                                   out.data(), phases);
            }
            T* yr = y + o * p.y_stride[2];
            for (int q = 0; q < p.out_w; ++q) yr[q * p.y_stride[3]] = T(out[q]);
        }
    }

    // The activation of buffer row i in place: forward (writing the sign codes when asked) or the derivative read
    // from the signs.
    void activate_row(S* a, int i, uint8_t* signs, S gain, S slope, S clamp) const {
        if (p.sign_mode == SignMode::kReadSigns) {
            for (int j = 0; j < buf_w; ++j) {
                const uint32_t code = filtered_lrelu_read_code(signs, p.sign_h, p.sign_row_bytes, i + p.sign_y0, j + p.sign_x0);
                a[j] *= filtered_lrelu_multiplier(code, gain, slope);
            }
            return;
        }
        uint8_t* row = (p.sign_mode == SignMode::kWriteSigns && i < p.sign_h) ? signs + int64_t(i) * p.sign_row_bytes : nullptr;
        const int width = row != nullptr ? std::min(buf_w, p.sign_w) : 0;
        for (int j = 0; j < buf_w; ++j) {
            uint32_t code;
            a[j] = filtered_lrelu_activate(a[j], gain, slope, clamp, code);
            if (j < width) row[j >> 2] |= uint8_t(code << (2 * (j & 3)));
        }
    }
};

template <typename T>
void filtered_lrelu_cpu_typed(const FilteredLreluParams& p) {
    const PlaneKernel<T> kernel(p);
    at::parallel_for(0, p.batch * p.channels, 1, [&](int64_t begin, int64_t end) {
        for (int64_t plane = begin; plane < end; ++plane) kernel.run_plane(plane);
    });
}

void run_filtered_lrelu_cpu(const FilteredLreluParams& p) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, scalar_type_of(p.dtype), "filtered_lrelu_cpu",
                                    [&] { filtered_lrelu_cpu_typed<scalar_t>(p); });
}

using CpuOps = FilteredLreluOps<run_filtered_lrelu_cpu, NoDeviceGuard>;

}  // namespace

TORCH_LIBRARY_IMPL(stylegan_ops, CPU, m) {
    m.impl("filtered_lrelu", &CpuOps::forward);
    m.impl("filtered_lrelu_signed", &CpuOps::signed_forward);
}

}  // namespace stylegan_ops
