// adain and style_epilogue on CUDA: three launches per direction, deterministic (no atomics), every plane size.
//
// 1. partials: a block item covers P planes x `chunk` pixels (P * J = 256 threads: J pixel lanes per plane). NCHW
//    has pixel lanes fastest, so a warp reads consecutive pixels of a plane; channels_last has plane lanes fastest
//    (P = 32), so a warp reads consecutive channels of a pixel. Small planes share a block (P = 256 / J with
//    J = the plane size rounded up to a power of two, at least 32); large planes span several items (chunks). Each
//    thread accumulates its pixels, the J lanes of a plane merge in a fixed tree, and one partial state per
//    (plane, chunk) goes to the workspace. Forward: mean and variance of t - t0 (t0 the plane's first value) as
//    MeanVar; backward: the sums of dy and dy * that (and, for style_epilogue, those that give the per-plane sums
//    of grad_x in closed form: see GradSums).
// 2. finalize: a thread per plane merges its partials in chunk order and writes the per-plane results.
// 3. apply: a grid-stride loop over memory in order, 16 bytes at a time where the layout allows, writes y (or dx).
//
// Reads x twice (partials, apply) and writes once, in both directions (the backward also reads dy twice).
#include <stdint.h>

#include <type_traits>

#include "../common/adain.h"
#include "element_types.cuh"
#include "kernel_launch.cuh"
#include "launch.cuh"
#include "position.cuh"

namespace stylegan_ops {
namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 16;  // pixels per thread in a block item
constexpr int kChannelLanes = 32;

// The backward's partial state: sums of dy and dy * that, and for the per-plane sums of grad_x (grad_x_sum) the
// sums of dy * slope, slope and that * slope, alone ([0]) and times the noise ([1]).
template <typename S>
struct GradSums {
    S dy, dy_that;
    S dy_slope[2], slope[2], that_slope[2];
    __device__ GradSums merge(const GradSums& o) const {
        GradSums r;
        r.dy = dy + o.dy;
        r.dy_that = dy_that + o.dy_that;
        for (int w = 0; w < 2; ++w) {
            r.dy_slope[w] = dy_slope[w] + o.dy_slope[w];
            r.slope[w] = slope[w] + o.slope[w];
            r.that_slope[w] = that_slope[w] + o.that_slope[w];
        }
        return r;
    }
};

struct Tiling {
    int planes_per_block;  // P
    int lanes;             // J pixel lanes per plane, P * J == kThreads
    int64_t chunk;         // pixels per block item
    int64_t chunks;        // block items along the pixels of a plane
    int64_t groups;        // groups of P planes
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

Tiling make_tiling(const AdainParams& p) {
    const int64_t hw = p.height * p.width;
    Tiling t{};
    if (p.channels_last) {
        t.planes_per_block = kChannelLanes;
        t.groups = p.batch * ceil_div(p.channels, kChannelLanes);
    } else {
        int lanes = 32;
        while (lanes < kThreads && lanes < hw) lanes *= 2;
        t.planes_per_block = kThreads / lanes;
        t.groups = ceil_div(p.batch * p.channels, t.planes_per_block);
    }
    t.lanes = kThreads / t.planes_per_block;
    t.chunk = int64_t(t.lanes) * kPerThread;
    t.chunks = ceil_div(hw, t.chunk);
    return t;
}

// The layer inputs one thread needs for its plane: where the plane's pixels are, its noise plane and pre-op
// constants.
template <typename T>
struct PlaneView {
    using S = acc_t<T>;
    int64_t plane;  // n * C + c, or -1 for a lane past the last plane
    int64_t n, c;
    int64_t base, stride;  // element (plane, pixel) of x is at base + pixel * stride
    const T* noise;        // the image's noise plane, or null
    S strength, b;

    __device__ PlaneView(const AdainParams& p, const Tiling& t, int64_t group, int lane) {
        const int64_t hw = p.height * p.width;
        if (p.channels_last) {
            const int64_t channel_groups = ceil_div_device(p.channels, kChannelLanes);
            n = group / channel_groups;
            c = (group % channel_groups) * kChannelLanes + lane;
            plane = c < p.channels ? n * p.channels + c : -1;
            base = n * hw * p.channels + c;
            stride = p.channels;
        } else {
            plane = group * t.planes_per_block + lane;
            if (plane >= p.batch * p.channels) plane = -1;
            n = plane >= 0 ? plane / p.channels : 0;
            c = plane >= 0 ? plane % p.channels : 0;
            base = plane * hw;
            stride = 1;
        }
        noise = p.noise != nullptr ? static_cast<const T*>(p.noise) + n * p.noise_batch_stride : nullptr;
        const T* strength_in = static_cast<const T*>(p.noise_strength);
        const T* b_in = static_cast<const T*>(p.b);
        strength = (plane >= 0 && strength_in != nullptr) ? to_acc(strength_in[p.noise_strength_per_channel ? c : 0])
                                                          : S(0);
        b = (plane >= 0 && b_in != nullptr) ? to_acc(b_in[c]) : S(0);
    }

    static __device__ int64_t ceil_div_device(int64_t a, int64_t b) { return (a + b - 1) / b; }

    __device__ S noise_at(int64_t pixel) const { return noise != nullptr ? to_acc(noise[pixel]) : S(0); }

    // t at `pixel`, from x value xv.
    __device__ S value(const AdainParams& p, S xv, int64_t pixel) const {
        if (!p.pre_op) return xv;
        return style_pre_op(xv, noise_at(pixel), strength, b, S(p.alpha), S(p.gain));
    }

    // dt/dx at `pixel`, from x value xv.
    __device__ S slope(const AdainParams& p, S xv, int64_t pixel) const {
        if (!p.pre_op) return S(1);
        return style_pre_op_slope(xv, noise_at(pixel), strength, b, S(p.alpha), S(p.gain));
    }
};

// This thread's plane lane and pixel lane, and its index in a shared array laid out as the threads are.
struct Lanes {
    int plane, pixel;
};

__device__ Lanes thread_lanes(const AdainParams& p, const Tiling& t) {
    const int tid = threadIdx.x;
    if (p.channels_last) return Lanes{tid % t.planes_per_block, tid / t.planes_per_block};
    return Lanes{tid / t.lanes, tid % t.lanes};
}

__device__ int shared_index(const AdainParams& p, const Tiling& t, int plane_lane, int pixel_lane) {
    return p.channels_last ? pixel_lane * t.planes_per_block + plane_lane : plane_lane * t.lanes + pixel_lane;
}

// Merges the states of the J pixel lanes of each plane lane in a fixed tree; the result lands at pixel lane 0.
// Every thread of the block must call it.
template <typename State>
__device__ void merge_lanes(const AdainParams& p, const Tiling& t, Lanes me, State* shared) {
    for (int stride = t.lanes / 2; stride > 0; stride /= 2) {
        __syncthreads();
        if (me.pixel < stride) {
            State& mine = shared[shared_index(p, t, me.plane, me.pixel)];
            mine = mine.merge(shared[shared_index(p, t, me.plane, me.pixel + stride)]);
        }
    }
    __syncthreads();
}

struct Workspace {
    void* partials;  // [groups * planes_per_block * chunks] states (indexed by plane * chunks + chunk)
    void* shift;     // forward: t0 per plane
    void* first;     // forward: mean offset from t0; backward: mean of dy
    void* second;    // forward: rstd * style_scale; backward: mean of dy * that
    void* third;     // backward: rstd * style_scale
};

template <typename T, bool kForward>
__global__ void __launch_bounds__(kThreads) partials_kernel(AdainParams p, Tiling t, Workspace ws) {
    using S = acc_t<T>;
    using State = typename std::conditional<kForward, MeanVar<S>, GradSums<S>>::type;
    __shared__ State shared[kThreads];
    const T* x = static_cast<const T*>(p.x);
    const T* grad = static_cast<const T*>(p.grad);
    const int64_t hw = p.height * p.width;
    const Lanes me = thread_lanes(p, t);
    const int64_t items = t.groups * t.chunks;
    for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
        const int64_t group = item / t.chunks, chunk = item % t.chunks;
        const PlaneView<T> view(p, t, group, me.plane);
        State state;
        if constexpr (kForward) {
            // Shifted sums of this thread's pixels, as a MeanVar of t - t0.
            S shift = S(0), sum = S(0), sum_sq = S(0), count = S(0);
            if (view.plane >= 0) {
                shift = view.value(p, to_acc(x[view.base]), 0);
                for (int k = 0; k < kPerThread; ++k) {
                    const int64_t pixel = chunk * t.chunk + me.pixel + int64_t(k) * t.lanes;
                    if (pixel >= hw) break;
                    const S d = view.value(p, to_acc(x[view.base + pixel * view.stride]), pixel) - shift;
                    sum += d;
                    sum_sq += d * d;
                    count += S(1);
                }
                if (chunk == 0 && me.pixel == 0) static_cast<S*>(ws.shift)[view.plane] = shift;
            }
            state = MeanVar<S>::from_shifted_sums(count, S(0), sum, sum_sq);
        } else {
            state = GradSums<S>{S(0), S(0), {S(0), S(0)}, {S(0), S(0)}, {S(0), S(0)}};
            if (view.plane >= 0) {
                const S mean = static_cast<const S*>(p.mean)[view.plane];
                const S rstd = static_cast<const S*>(p.rstd)[view.plane];
                const bool with_sums = p.grad_x_sums != nullptr;
                for (int k = 0; k < kPerThread; ++k) {
                    const int64_t pixel = chunk * t.chunk + me.pixel + int64_t(k) * t.lanes;
                    if (pixel >= hw) break;
                    const int64_t offset = view.base + pixel * view.stride;
                    const S xv = to_acc(x[offset]);
                    const S that = (view.value(p, xv, pixel) - mean) * rstd;
                    const S dy = to_acc(grad[offset]);
                    state.dy += dy;
                    state.dy_that += dy * that;
                    if (with_sums) {
                        const S slope = view.slope(p, xv, pixel);
                        const S nz = view.noise_at(pixel);
                        state.dy_slope[0] += dy * slope;
                        state.slope[0] += slope;
                        state.that_slope[0] += that * slope;
                        state.dy_slope[1] += dy * slope * nz;
                        state.slope[1] += slope * nz;
                        state.that_slope[1] += that * slope * nz;
                    }
                }
            }
        }
        shared[shared_index(p, t, me.plane, me.pixel)] = state;
        merge_lanes(p, t, me, shared);
        if (me.pixel == 0 && view.plane >= 0)
            static_cast<State*>(ws.partials)[view.plane * t.chunks + chunk] = shared[shared_index(p, t, me.plane, 0)];
        __syncthreads();  // the shared states are rewritten by the next item
    }
}

template <typename T, bool kForward>
__global__ void __launch_bounds__(kThreads) finalize_kernel(AdainParams p, Tiling t, Workspace ws) {
    using S = acc_t<T>;
    const int64_t planes = p.batch * p.channels;
    const T* style_scale = static_cast<const T*>(p.style_scale);
    for (int64_t plane = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; plane < planes;
         plane += int64_t(gridDim.x) * blockDim.x) {
        if constexpr (kForward) {
            const MeanVar<S>* partials = static_cast<const MeanVar<S>*>(ws.partials) + plane * t.chunks;
            MeanVar<S> mv = partials[0];
            for (int64_t k = 1; k < t.chunks; ++k) mv = mv.merge(partials[k]);
            const S rstd = mv.rstd(p.eps);
            static_cast<S*>(p.mean)[plane] = static_cast<const S*>(ws.shift)[plane] + mv.mean;
            static_cast<S*>(p.rstd)[plane] = rstd;
            static_cast<S*>(ws.first)[plane] = mv.mean;
            static_cast<S*>(ws.second)[plane] = rstd * to_acc(style_scale[plane]);
        } else {
            const GradSums<S>* partials = static_cast<const GradSums<S>*>(ws.partials) + plane * t.chunks;
            GradSums<S> sums = partials[0];
            for (int64_t k = 1; k < t.chunks; ++k) sums = sums.merge(partials[k]);
            const S hw = S(p.height * p.width);
            const S mean_dy = sums.dy / hw, mean_dy_that = sums.dy_that / hw;
            const S coef = static_cast<const S*>(p.rstd)[plane] * to_acc(style_scale[plane]);
            static_cast<T*>(p.grad_style_scale)[plane] = from_acc<T>(sums.dy_that);
            static_cast<T*>(p.grad_style_bias)[plane] = from_acc<T>(sums.dy);
            static_cast<S*>(ws.first)[plane] = mean_dy;
            static_cast<S*>(ws.second)[plane] = mean_dy_that;
            static_cast<S*>(ws.third)[plane] = coef;
            if (p.grad_x_sums != nullptr) {
                for (int w = 0; w < 2; ++w) {
                    static_cast<S*>(p.grad_x_sums)[2 * plane + w] = grad_x_sum(
                        coef, mean_dy, mean_dy_that, sums.dy_slope[w], sums.slope[w], sums.that_slope[w]);
                }
            }
        }
    }
}

template <typename T, bool kForward, typename I>
__device__ __forceinline__ void apply_range(const AdainParams& p, const Workspace& ws, int64_t vec_count) {
    using S = acc_t<T>;
    using V = Vec16<T>;
    constexpr int kVec = V::kSize;
    const T* x = static_cast<const T*>(p.x);
    const T* grad = static_cast<const T*>(p.grad);
    const T* noise = static_cast<const T*>(p.noise);
    const T* noise_strength = static_cast<const T*>(p.noise_strength);
    const T* b = static_cast<const T*>(p.b);
    const T* style_bias = static_cast<const T*>(p.style_bias);
    T* out = static_cast<T*>(kForward ? p.y : p.grad_x);
    const S* shift = static_cast<const S*>(ws.shift);
    const S* first = static_cast<const S*>(ws.first);
    const S* second = static_cast<const S*>(ws.second);
    const S* third = static_cast<const S*>(ws.third);
    const S* mean = static_cast<const S*>(p.mean);
    const S* rstd = static_cast<const S*>(p.rstd);
    const I channels = I(p.channels), hw = I(p.height * p.width);
    const int64_t numel = p.batch * p.channels * p.height * p.width;
    const S alpha = S(p.alpha), gain = S(p.gain);

    // One output element at (n, c, pixel) from its x value (and dy value in the backward).
    auto element = [&](S xv, S dy, I n, I c, I pixel) -> T {
        const int64_t plane = int64_t(n) * p.channels + c;
        S nz = S(0), strength = S(0), bc = S(0);
        if (p.pre_op) {
            nz = noise != nullptr ? to_acc(noise[int64_t(n) * p.noise_batch_stride + pixel]) : S(0);
            strength =
                noise_strength != nullptr ? to_acc(noise_strength[p.noise_strength_per_channel ? c : I(0)]) : S(0);
            bc = b != nullptr ? to_acc(b[c]) : S(0);
        }
        const S t = p.pre_op ? style_pre_op(xv, nz, strength, bc, alpha, gain) : xv;
        if constexpr (kForward) {
            return from_acc<T>(((t - shift[plane]) - first[plane]) * second[plane] + to_acc(style_bias[plane]));
        } else {
            const S that = (t - mean[plane]) * rstd[plane];
            const S dt = third[plane] * (dy - first[plane] - that * second[plane]);
            const S slope = p.pre_op ? style_pre_op_slope(xv, nz, strength, bc, alpha, gain) : S(1);
            return from_acc<T>(dt * slope);
        }
    };

    const int64_t step = int64_t(gridDim.x) * blockDim.x;
    const int64_t first_index = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    for (int64_t vi = first_index; vi < vec_count; vi += step) {
        const V xv = reinterpret_cast<const V*>(x)[vi];
        V gv;
        if constexpr (!kForward) gv = reinterpret_cast<const V*>(grad)[vi];
        const Position<I> at = position(I(vi) * I(kVec), channels, hw, p.channels_last);
        V result;
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
            const S dy = kForward ? S(0) : to_acc(gv.v[k]);
            // channels_last: the vector spans channels of one pixel; NCHW: pixels of one plane.
            result.v[k] = p.channels_last ? element(to_acc(xv.v[k]), dy, at.n, at.c + I(k), at.pixel)
                                          : element(to_acc(xv.v[k]), dy, at.n, at.c, at.pixel + I(k));
        }
        reinterpret_cast<V*>(out)[vi] = result;
    }
    for (int64_t i = vec_count * kVec + first_index; i < numel; i += step) {
        const Position<I> at = position(I(i), channels, hw, p.channels_last);
        out[i] = element(to_acc(x[i]), kForward ? S(0) : to_acc(grad[i]), at.n, at.c, at.pixel);
    }
}

template <typename T, bool kForward>
__global__ void __launch_bounds__(kThreads, 4) apply_kernel(AdainParams p, Workspace ws, int64_t vec_count) {
    if (p.batch * p.channels * p.height * p.width <= int64_t(UINT32_MAX)) apply_range<T, kForward, uint32_t>(p, ws, vec_count);
    else apply_range<T, kForward, uint64_t>(p, ws, vec_count);
}

// Workspace: the partial states, then the per-plane arrays, each 16-byte aligned.
struct WorkspaceLayout {
    size_t partials, per_plane, total;
};

size_t align16(size_t n) { return (n + 15) / 16 * 16; }

template <typename S>
WorkspaceLayout workspace_layout(const AdainParams& p, const Tiling& t) {
    const size_t states = size_t(p.batch * p.channels) * size_t(t.chunks);
    const size_t state_size = sizeof(MeanVar<S>) > sizeof(GradSums<S>) ? sizeof(MeanVar<S>) : sizeof(GradSums<S>);
    WorkspaceLayout l;
    l.partials = align16(states * state_size);
    l.per_plane = align16(size_t(p.batch * p.channels) * sizeof(S));
    l.total = l.partials + 4 * l.per_plane;
    return l;
}

template <typename T, bool kForward>
cudaError_t launch_typed(const AdainParams& p, void* workspace, cudaStream_t stream) {
    using S = acc_t<T>;
    const Tiling t = make_tiling(p);
    const WorkspaceLayout l = workspace_layout<S>(p, t);
    char* base = static_cast<char*>(workspace);
    const Workspace ws{base, base + l.partials, base + l.partials + l.per_plane, base + l.partials + 2 * l.per_plane,
                       base + l.partials + 3 * l.per_plane};
    // One block item per block while the device has room for them, then blocks loop over the items.
    const int64_t items = t.groups * t.chunks;
    cudaError_t err = launch_kernel(partials_kernel<T, kForward>, grid_size(items * kThreads, kThreads, 8), kThreads,
                                    stream, p, t, ws);
    if (err != cudaSuccess) return err;
    const int64_t planes = p.batch * p.channels;
    err = launch_kernel(finalize_kernel<T, kForward>, grid_size(planes, kThreads, 8), kThreads, stream, p, t, ws);
    if (err != cudaSuccess) return err;
    constexpr int kVec = Vec16<T>::kSize;
    const int64_t numel = planes * p.height * p.width;
    const int64_t run = p.channels_last ? p.channels : p.height * p.width;  // a vector stays within a run
    const bool vectorize = aligned16(p.x) && aligned16(kForward ? p.y : p.grad_x) &&
                           (kForward || aligned16(p.grad)) && run % kVec == 0;
    const int64_t vec_count = vectorize ? numel / kVec : 0;
    return launch_kernel(apply_kernel<T, kForward>, grid_size(vectorize ? vec_count : numel, kThreads, 16), kThreads,
                         stream, p, ws, vec_count);
}

template <bool kForward>
cudaError_t launch(const AdainParams& p, void* workspace, cudaStream_t stream) {
    if (p.batch * p.channels * p.height * p.width == 0) return cudaSuccess;
    return dispatch_dtype(p.dtype, [&](auto type_tag) -> cudaError_t {
        return launch_typed<decltype(type_tag), kForward>(p, workspace, stream);
    });
}

}  // namespace

size_t adain_workspace_bytes(const AdainParams& p) {
    const Tiling t = make_tiling(p);
    return p.dtype == DType::Float64 ? workspace_layout<double>(p, t).total : workspace_layout<float>(p, t).total;
}

cudaError_t launch_adain_forward(const AdainParams& p, void* workspace, cudaStream_t stream) {
    return launch<true>(p, workspace, stream);
}

cudaError_t launch_adain_gradients(const AdainParams& p, void* workspace, cudaStream_t stream) {
    return launch<false>(p, workspace, stream);
}

}  // namespace stylegan_ops
