// Attributes shared by every function that a compiler hook can reach.
//
// hookprof never instruments itself (see bazel/hookprof.bzl for the build-level half):
// HOOKPROF_NO_INSTRUMENT keeps -finstrument-functions and sanitizer coverage out of a function
// even when a user's global --copt forces those flags onto hookprof's own targets.
#ifndef HOOKPROF_INSTRUMENT_ATTRIBUTES_H_
#define HOOKPROF_INSTRUMENT_ATTRIBUTES_H_

#if defined(__clang__)
#define HOOKPROF_NO_INSTRUMENT __attribute__((no_instrument_function, no_sanitize("coverage")))
#elif defined(__has_attribute) && __has_attribute(no_sanitize_coverage)
#define HOOKPROF_NO_INSTRUMENT __attribute__((no_instrument_function, no_sanitize_coverage))
#else
#define HOOKPROF_NO_INSTRUMENT __attribute__((no_instrument_function))
#endif

#define HOOKPROF_ALWAYS_INLINE inline __attribute__((always_inline))
#define HOOKPROF_NOINLINE __attribute__((noinline))
#define HOOKPROF_LIKELY(x) __builtin_expect(!!(x), 1)
#define HOOKPROF_UNLIKELY(x) __builtin_expect(!!(x), 0)
// Gives the enclosing function a frame pointer whatever the copts (both compilers keep one where
// the frame's address is taken), so that a frame-pointer walk started below passes through it.
#define HOOKPROF_KEEP_FRAME_POINTER() asm volatile("" : : "r"(__builtin_frame_address(0)))

// The owner-side paths (the hooks, the CPU sampler's signal handler) store single-writer fields
// with plain stores that other threads load with relaxed atomics: on x86-64 the same
// instructions as relaxed atomic stores, without constraining the compiler on the hot path.
// ThreadSanitizer would report each pair, so it leaves these functions uninstrumented.
#if defined(__SANITIZE_THREAD__)
#define HOOKPROF_OWNER_WRITES __attribute__((no_sanitize("thread")))
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HOOKPROF_OWNER_WRITES __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef HOOKPROF_OWNER_WRITES
#define HOOKPROF_OWNER_WRITES
#endif

// Stack walks read words that may be anything: a sanitizer's redzones, another thread's memory
// behind a frame pointer that is data (unwind.cc proves each page mapped first).
#define HOOKPROF_READS_ANY_STACK __attribute__((no_sanitize_address)) HOOKPROF_OWNER_WRITES

// Built with a sanitizer that owns malloc (ASan, TSan, MSan): the heap sampler steps aside.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HOOKPROF_SANITIZER_OWNS_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define HOOKPROF_SANITIZER_OWNS_MALLOC 1
#endif
#endif
#ifndef HOOKPROF_SANITIZER_OWNS_MALLOC
#define HOOKPROF_SANITIZER_OWNS_MALLOC 0
#endif

// clang links sanitizer runtimes into the program, where their pthread interceptors are weak
// definitions: hookprof's interposers would replace them instead of chaining to them through
// RTLD_NEXT (as they do with GCC's shared runtimes), so they step aside in such builds.
#if defined(__clang__) && HOOKPROF_SANITIZER_OWNS_MALLOC
#define HOOKPROF_INTERPOSE_PTHREAD 0
#else
#define HOOKPROF_INTERPOSE_PTHREAD 1
#endif

#endif  // HOOKPROF_INSTRUMENT_ATTRIBUTES_H_
