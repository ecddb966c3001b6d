// Attributes shared by every function that a compiler hook can reach.
//
// hookprof never instruments itself (see bazel/hookprof.bzl for the build-level half):
// HOOKPROF_NO_INSTRUMENT keeps -finstrument-functions and sanitizer coverage out of a function
// even when a user's global --copt forces those flags onto hookprof's own targets.
#ifndef HOOKPROF_INSTRUMENT_ATTRIBUTES_H_
#define HOOKPROF_INSTRUMENT_ATTRIBUTES_H_

#if defined(__clang__)
#define HOOKPROF_NO_INSTRUMENT \
  __attribute__((no_instrument_function, no_sanitize("coverage")))
#else
#define HOOKPROF_NO_INSTRUMENT __attribute__((no_instrument_function))
#endif

#define HOOKPROF_ALWAYS_INLINE inline __attribute__((always_inline))
#define HOOKPROF_NOINLINE __attribute__((noinline))
#define HOOKPROF_LIKELY(x) __builtin_expect(!!(x), 1)
#define HOOKPROF_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif  // HOOKPROF_INSTRUMENT_ATTRIBUTES_H_
