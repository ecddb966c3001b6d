// Sampled allocation profiling: malloc, calloc, realloc, free, posix_memalign, aligned_alloc,
// memalign, valloc, pvalloc and malloc_usable_size are interposed (and so every operator
// new/delete, which the C++ library builds on them); the C library's allocator does the work.
//
// Sampling is geometric with a mean of `rate` bytes, as Go and tcmalloc do: each thread counts
// down the bytes it allocates and samples the allocation that crosses zero, then draws the next
// distance from an exponential distribution. A sampled allocation gets a 16-byte header (magic
// and a check word) in front of it so that free() recognises it from the bytes just before the
// pointer, which the C library's own free reads anyway; the unsampled fast paths touch no
// shared memory. Each sample stands for 1 / (1 - exp(-size / rate)) allocations (unbiased).
//
// Samples are charged to the allocating thread's current call-path node and the allocation's
// call site. hookprof's own threads and allocations made from inside the sampler are never
// sampled. Full tables drop samples and count them.
//
// Thread-safety: all of it; the sampled slow paths take one spinlock.
#ifndef HOOKPROF_INSTRUMENT_SAMPLERS_HEAP_SAMPLER_H_
#define HOOKPROF_INSTRUMENT_SAMPLERS_HEAP_SAMPLER_H_

#include <stdint.h>

#include <vector>

#include "instrument/state/thread_state.h"

namespace hookprof {
namespace instrument {

// Mean bytes between samples; 1 samples every allocation, 0 turns sampling off. Default 512 KiB.
void SetHeapSampleRate(int64_t bytes);
int64_t HeapSampleRate();

struct HeapBucket {
  const ThreadState* state;           // nullptr: the thread had no recorded state.
  uint32_t node;                      // Call-path node of that thread at the allocation.
  uintptr_t call_site;                // Return address of the allocation call.
  double alloc_objects, alloc_bytes;  // Unbiased estimates, cumulative.
  double inuse_objects, inuse_bytes;  // Unbiased estimates of what is still allocated.
  // The samples themselves, unscaled (Go's legacy text carries these; its readers scale them).
  uint64_t sampled_alloc_objects, sampled_alloc_bytes;
  uint64_t sampled_inuse_objects, sampled_inuse_bytes;
};

// A copy of every bucket. Call from hookprof's own code (it allocates).
std::vector<HeapBucket> HeapBuckets();

// False in builds with a sanitizer that owns malloc (ASan, TSan, MSan): nothing is sampled.
bool HeapSamplerActive();

// Samples lost because a table was full.
uint64_t HeapDroppedSamples();

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_SAMPLERS_HEAP_SAMPLER_H_
