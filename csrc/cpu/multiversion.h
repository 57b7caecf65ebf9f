// Function multiversioning for the CPU kernels' hot loops.
//
// The extension is built for baseline x86-64 (SSE2) so that it runs on any x86-64 CPU. SG_CPU_MULTIVERSION compiles a
// function three times, for AVX-512 (x86-64-v4), AVX2 + FMA (x86-64-v3) and the baseline, and the dynamic loader
// picks the best one for the CPU at hand (GCC's target_clones, resolved through an ifunc). Calls to such a function
// are not inlined, so it belongs on a function holding a whole loop, not on per-element helpers (which it inlines).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define SG_CPU_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SG_CPU_MULTIVERSION
#endif

// On a helper that a SG_CPU_MULTIVERSION function calls in its loops: always inlined, so that it is compiled for
// each clone's target. A helper the compiler chooses not to inline is compiled once, for the baseline (SSE2), and
// runs at that speed from every clone (adain's backward sums at 16x512x8x8: 4x slower).
#if defined(__GNUC__)
#define SG_ALWAYS_INLINE inline __attribute__((always_inline))
#define SG_INLINE_LAMBDA __attribute__((always_inline))  // the same for a lambda: [&](int i) SG_INLINE_LAMBDA { ... }
#else
#define SG_ALWAYS_INLINE inline
#define SG_INLINE_LAMBDA
#endif

// Before a loop whose iterations do not depend on each other through memory (say, rows of one buffer that never
// overlap): lets the compiler vectorize it without run-time overlap checks.
#if defined(__GNUC__) && !defined(__clang__)
#define SG_VECTORIZE _Pragma("GCC ivdep")
#elif defined(__clang__)
#define SG_VECTORIZE _Pragma("clang loop vectorize(assume_safety)")
#else
#define SG_VECTORIZE
#endif
