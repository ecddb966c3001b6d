// Timing mode's per-call record: a call's duration into its function's latency histogram
// (instrument::LatencyHot and LatencyHistogram), for the timed exits (timed_record.cc, hooks.cc).
#include "instrument/records/latency_record.h"

#include <string.h>

#include "instrument/attributes.h"
#include "instrument/state/label_sets.h"

namespace hookprof {
namespace instrument {
namespace {

// Buckets of the window below the warm-up calls' median (0.65x): call durations spread upwards.
constexpr uint32_t kWindowBelowMedian = 20;

// The latency histogram of `fn` under label set `labels` on this thread (set up on first use),
// or 0 when none is left.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t LatencyOf(ThreadState* s, uintptr_t fn,
                                                                uint32_t labels) {
  const uint32_t mask = kLatencyIndexSlots - 1;
  for (uint32_t i = PathHash(labels, fn) & mask;; i = (i + 1) & mask) {
    const uint32_t h = s->latency_index[i];
    if (h != 0 && s->latency[h - 1].fn == fn && s->latency[h - 1].labels == labels) return h;
    if (h != 0) continue;
    const uint32_t used = s->latency_used;
    if (used >= kMaxLatencyHistograms) return 0;  // The index stays at most half full.
    LatencyHistogram& l = s->latency[used];
    l.fn = fn;
    l.labels = labels;
    l.min_ticks = ~uint64_t{0};
    LatencyHot& hot = s->latency_hot[used];
    hot.min_ticks = ~uint32_t{0};
    hot.base = kLatencyUnplaced;
    s->latency_index[i] = used + 1;
    // Release: a reader that sees the count sees the histogram's function, minimum and base.
    __atomic_store_n(&s->latency_used, used + 1, __ATOMIC_RELEASE);
    return used + 1;
  }
}

// The first bucket of a window whose calls center on bucket `center`.
uint16_t WindowBase(uint32_t center) {
  uint32_t base = center > kWindowBelowMedian ? center - kWindowBelowMedian : 0;
  if (base > kLatencyBuckets - kLatencyHotBuckets) base = kLatencyBuckets - kLatencyHotBuckets;
  return static_cast<uint16_t>(base);
}

// Brackets the owner's moves of counts from the hot part to the cold part: spill_seq is odd
// meanwhile, so a reader sees the counts either all before the move or all after it.
class SpillSeqScope {
 public:
  HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES explicit SpillSeqScope(LatencyHot& hot)
      : hot_(hot), seq_(hot.spill_seq) {
    __atomic_store_n(&hot_.spill_seq, static_cast<uint16_t>(seq_ + 1), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
  }
  HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES ~SpillSeqScope() {
    __atomic_store_n(&hot_.spill_seq, static_cast<uint16_t>(seq_ + 2), __ATOMIC_RELEASE);
  }
  SpillSeqScope(const SpillSeqScope&) = delete;
  SpillSeqScope& operator=(const SpillSeqScope&) = delete;

 private:
  LatencyHot& hot_;
  const uint16_t seq_;
};

// Moves the window's counts to the cold part and the window to `base`.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void MoveWindow(LatencyHot& hot, LatencyHistogram& l,
                                                             uint16_t base) {
  SpillSeqScope moving(hot);
  for (uint32_t j = 0; j < kLatencyHotBuckets; ++j) {
    const uint8_t c = hot.counts[j];
    if (c == 0) continue;
    uint64_t& cold = l.counts[hot.base + j];
    __atomic_store_n(&cold, cold + c, __ATOMIC_RELAXED);
    __atomic_store_n(&hot.counts[j], uint8_t{0}, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&hot.base, base, __ATOMIC_RELAXED);
}

// The calls the window's counters hold, eight counters a step: each byte pair is added into a
// 16-bit lane (at most 14 x 510 = 7,140 each, 28,560 for all four, so no lane carries over).
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint64_t WindowCalls(const LatencyHot& hot) {
  static_assert(kLatencyHotBuckets / 8 * 2 * 255 * 4 < 0x10000, "a 16-bit lane would carry");
  constexpr uint64_t kEvenBytes = 0x00ff00ff00ff00ffu;
  uint64_t lanes = 0;
  uint32_t j = 0;
  for (; j + 8 <= kLatencyHotBuckets; j += 8) {
    uint64_t x;
    memcpy(&x, &hot.counts[j], sizeof(x));
    lanes += (x & kEvenBytes) + ((x >> 8) & kEvenBytes);
  }
  uint64_t calls = (lanes * 0x0001000100010001u) >> 48;
  for (; j < kLatencyHotBuckets; ++j) calls += hot.counts[j];
  return calls;
}

// Every kLatencyWarmupCalls calls that missed the placed window: moves it to their mean bucket if
// they were over three quarters of the calls since (not on a spread that a window holds half of:
// fib's durations span 20 octaves, and a majority rule moved its window 283,530 times in one run).
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void CheckWindow(
    LatencyHot& hot, LatencyHistogram& l) {
  uint64_t held = l.spilled + WindowCalls(hot);
  if (l.misses > 3 * (held - l.hot_mark)) {
    MoveWindow(hot, l, WindowBase(l.miss_buckets / l.misses));
    held = l.spilled;  // The window's counters are zero again.
  }
  l.hot_mark = held;
  l.misses = 0;
  l.miss_buckets = 0;
}

// After the first kLatencyWarmupCalls calls: places the window around their median.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void PlaceWindow(
    LatencyHot& hot, LatencyHistogram& l) {
  uint64_t seen = 0;
  uint32_t median = 0;
  while (median < kLatencyBuckets - 1 && 2 * (seen += l.counts[median]) < l.warmup) ++median;
  // Release: a reader that sees the base reads the window's counters (all zero until now).
  __atomic_store_n(&hot.base, WindowBase(median), __ATOMIC_RELEASE);
}

// A call outside the hot window (or before it is placed) into the cold part. Inline: a function
// whose durations span more octaves than the window (fib's span 20) sends many calls here.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void AddCold(
    LatencyHot& hot, LatencyHistogram& l, uint32_t b) {
  __atomic_store_n(&l.counts[b], l.counts[b] + 1, __ATOMIC_RELAXED);
  if (HOOKPROF_LIKELY(hot.base != kLatencyUnplaced)) {
    l.miss_buckets += b;
    if (HOOKPROF_UNLIKELY(++l.misses == kLatencyWarmupCalls)) CheckWindow(hot, l);
  } else if (++l.warmup == kLatencyWarmupCalls) {
    PlaceWindow(hot, l);
  }
}

// The window's counter `j` is full (255): the call and those calls move to the cold part.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void Spill(LatencyHot& hot,
                                                                          LatencyHistogram& l,
                                                                          uint32_t j) {
  SpillSeqScope moving(hot);
  uint64_t& c = l.counts[hot.base + j];
  __atomic_store_n(&c, c + 0x100, __ATOMIC_RELAXED);
  l.spilled += 0x100;
  __atomic_store_n(&hot.counts[j], uint8_t{0}, __ATOMIC_RELAXED);
}

// A call of 2^32 - 1 ticks or more (over a second): its bounds are kept in the cold part.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void AddLong(LatencyHot& hot,
                                                                            LatencyHistogram& l,
                                                                            uint64_t ticks) {
  if (ticks < l.min_ticks) __atomic_store_n(&l.min_ticks, ticks, __ATOMIC_RELAXED);
  if (ticks > l.max_ticks) __atomic_store_n(&l.max_ticks, ticks, __ATOMIC_RELAXED);
  __atomic_store_n(&hot.max_ticks, ~uint32_t{0}, __ATOMIC_RELAXED);
}

}  // namespace

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void AddLatencyMissed(
    ThreadState* s, Node& n, uint64_t ticks) {
  uint32_t h = n.latency;
  if (h == 0) {
    // Once per path: n.latency keeps it.
    h = LatencyOf(s, n.fn, LabelSetOfPath(s, static_cast<uint32_t>(&n - s->nodes)));
    if (h == 0) {
      __atomic_store_n(&s->lost_latency, s->lost_latency + 1, __ATOMIC_RELAXED);
      return;
    }
    n.latency = h;
  }
  LatencyHot& hot = s->latency_hot[h - 1];
  LatencyHistogram& l = s->latency[h - 1];
  const uint32_t b = LatencyBucket(ticks);
  const uint32_t j = b - hot.base;  // Wraps to a large value below the window or unplaced.
  if (j >= kLatencyHotBuckets) {
    AddCold(hot, l, b);
  } else if (hot.counts[j] == 0xff) {
    Spill(hot, l, j);
  } else {  // A call over 2^32 - 1 ticks in the window.
    __atomic_store_n(&hot.counts[j], static_cast<uint8_t>(hot.counts[j] + 1), __ATOMIC_RELAXED);
  }
  if (__builtin_expect(ticks >= ~uint32_t{0}, 0)) return AddLong(hot, l, ticks);
  const uint32_t t = static_cast<uint32_t>(ticks);
  if (t < hot.min_ticks) __atomic_store_n(&hot.min_ticks, t, __ATOMIC_RELAXED);
  if (t > hot.max_ticks) __atomic_store_n(&hot.max_ticks, t, __ATOMIC_RELAXED);
}

}  // namespace instrument
}  // namespace hookprof
