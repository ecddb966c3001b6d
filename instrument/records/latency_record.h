// Timing mode's record of a call that ended: private to the instrument library. The timed exit
// adds the common call inline (AddLatencyHot) and the rest out of line (AddLatencyMissed).
#ifndef HOOKPROF_INSTRUMENT_RECORDS_LATENCY_RECORD_H_
#define HOOKPROF_INSTRUMENT_RECORDS_LATENCY_RECORD_H_

#include <stdint.h>

#include "instrument/attributes.h"
#include "instrument/state/thread_state.h"

namespace hookprof {
namespace instrument {

// AddLatency's calls that AddLatencyHot leaves: the function's first (its histogram is set up
// then, or the call counted in lost_latency when the thread has none left), a full counter, a
// call outside the window or over 2^32 - 1 ticks.
__attribute__((visibility("hidden"))) void AddLatencyMissed(ThreadState* s, Node& n,
                                                            uint64_t ticks);

// AddLatency's common case, inline in the exit hook: the function's histogram is set up, its hot
// window is placed and holds the call's bucket, that bucket's counter is not full, and the call
// was shorter than 2^32 - 1 ticks. Returns false, having changed nothing, in every other case.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE bool AddLatencyHot(
    ThreadState* s, const Node& n, uint64_t ticks) {
  const uint32_t h = n.latency;
  if (h == 0 || ticks >= ~uint32_t{0}) return false;
  LatencyHot& hot = s->latency_hot[h - 1];
  const uint32_t t = static_cast<uint32_t>(ticks);
  const uint32_t j = LatencyBucket32(t) - hot.base;  // Wraps to a large value below or unplaced.
  if (j >= kLatencyHotBuckets) return false;
  const uint8_t c = hot.counts[j];
  if (c == 0xff) return false;  // Full: AddLatency spills it.
  __atomic_store_n(&hot.counts[j], static_cast<uint8_t>(c + 1), __ATOMIC_RELAXED);
  if (t < hot.min_ticks) __atomic_store_n(&hot.min_ticks, t, __ATOMIC_RELAXED);
  if (t > hot.max_ticks) __atomic_store_n(&hot.max_ticks, t, __ATOMIC_RELAXED);
  return true;
}

// Adds a timed call of `ticks` that ended on path `n` to its function's latency histogram on
// thread `s`. Owner thread, inside the hook's busy window; the caller has checked the call was
// timed throughout.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void AddLatency(
    ThreadState* s, Node& n, uint64_t ticks) {
  if (!AddLatencyHot(s, n, ticks)) AddLatencyMissed(s, n, ticks);
}

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_RECORDS_LATENCY_RECORD_H_
