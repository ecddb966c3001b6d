// Timing mode's per-call record: a call's duration into its function's latency histogram
// (instrument::LatencyHistogram), called by the exit hooks in hooks.cc.
#include "instrument/latency_record.h"

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {
namespace {

// The latency histogram of `fn` on this thread (set up on first use), or 0 when none is left.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t LatencyOf(ThreadState* s, uintptr_t fn) {
  const uint32_t mask = kLatencyIndexSlots - 1;
  for (uint32_t i = PathHash(0, fn) & mask;; i = (i + 1) & mask) {
    const uint32_t h = s->latency_index[i];
    if (h != 0 && s->latency[h - 1].fn == fn) return h;
    if (h != 0) continue;
    const uint32_t used = s->latency_used;
    if (used >= kMaxLatencyHistograms) return 0;  // The index stays at most half full.
    LatencyHistogram& l = s->latency[used];
    l.fn = fn;
    l.min_ticks = ~uint64_t{0};
    s->latency_index[i] = used + 1;
    // Release: a reader that sees the count sees the histogram's function and minimum.
    __atomic_store_n(&s->latency_used, used + 1, __ATOMIC_RELEASE);
    return used + 1;
  }
}

}  // namespace

// Timing mode: the call's duration into its function's latency histogram.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void AddLatency(ThreadState* s,
                                                                               const Frame& f,
                                                                               uint64_t now) {
  if (f.tsc < __atomic_load_n(&g_timed_since, __ATOMIC_RELAXED) || now <= f.tsc) return;
  const uint64_t ticks = now - f.tsc;
  Node& n = s->nodes[f.node];
  uint32_t h = n.latency;
  if (h == 0) {
    h = LatencyOf(s, n.fn);
    if (h == 0) {
      __atomic_store_n(&s->lost_latency, s->lost_latency + 1, __ATOMIC_RELAXED);
      return;
    }
    n.latency = h;
  }
  LatencyHistogram& l = s->latency[h - 1];
  uint64_t& c = l.counts[LatencyBucket(ticks)];
  __atomic_store_n(&c, c + 1, __ATOMIC_RELAXED);
  if (ticks < l.min_ticks) __atomic_store_n(&l.min_ticks, ticks, __ATOMIC_RELAXED);
  if (ticks > l.max_ticks) __atomic_store_n(&l.max_ticks, ticks, __ATOMIC_RELAXED);
}

}  // namespace instrument
}  // namespace hookprof
