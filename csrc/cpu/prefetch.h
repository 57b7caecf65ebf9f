// Software prefetch for the two-pass CPU kernels (statistics of a plane or block of planes, then its output). The
// first pass reads from memory and the second only writes, so without help a task's loads and stores never overlap:
// its time is that of a read plus a copy, not of a copy. The second pass asks for the next block's inputs while it
// writes, in stretches of kPrefetchStretch values.
//
// Only worth it when the inputs come from memory. adain's forward at 16x512x32x32 (32 MiB) ran 1.27x faster with it;
// tensors of 8 MiB stayed in this machine's caches and gained nothing measurable, so below kPrefetchMinBytes the
// kernels keep their plain loops and blocks.
#pragma once

#include <stdint.h>

#include <algorithm>

#include "multiversion.h"

namespace stylegan_ops {

constexpr int64_t kCacheLine = 64;
constexpr int64_t kPrefetchStretch = 64;                  // values written per round of prefetches
constexpr int64_t kPrefetchMinBytes = int64_t(16) << 20;  // the size of an input from which the kernels prefetch
constexpr int64_t kPrefetchBlockValues = 4096;            // values per block when prefetching (16 KiB of float32)

// Asks for the cache lines of next[i0 .. i1), for reading; nothing when next is null. A hint: it never faults and
// changes no result.
template <typename T>
SG_ALWAYS_INLINE void prefetch_values(const T* next, int64_t i0, int64_t i1) {
#if defined(__GNUC__)
    if (next == nullptr) return;
    const char* begin = reinterpret_cast<const char*>(next + i0);
    const char* end = reinterpret_cast<const char*>(next + i1);
    for (const char* line = begin; line < end; line += kCacheLine) __builtin_prefetch(line, 0, 3);
#else
    (void)next, (void)i0, (void)i1;
#endif
}

// body(0, n) when every `next` is null. Otherwise body(i0, i1) for stretches of kPrefetchStretch values, each after
// asking for next[i0 .. i1) of every non-null next (the inputs of the next pass, as many values as this one). With
// nothing to fetch, the loop stays whole: data in cache runs the loop it ran before prefetching existed.
template <typename F, typename... N>
SG_ALWAYS_INLINE void for_stretches(int64_t n, F&& body, const N*... next) {
    if (((next == nullptr) && ...)) {
        body(int64_t(0), n);
        return;
    }
    for (int64_t i0 = 0; i0 < n; i0 += kPrefetchStretch) {
        const int64_t i1 = std::min(n, i0 + kPrefetchStretch);
        (prefetch_values(next, i0, i1), ...);
        body(i0, i1);
    }
}

}  // namespace stylegan_ops
