// The layout of timing mode's latency histograms (one per function, label set and thread, in
// the thread's mapping: ThreadState::latency_hot and ::latency), and the bucket arithmetic the
// exit hooks (latency_record.cc) and the readers (runtime/reports/latency) share.
#ifndef HOOKPROF_INSTRUMENT_STATE_LATENCY_HISTOGRAM_H_
#define HOOKPROF_INSTRUMENT_STATE_LATENCY_HISTOGRAM_H_

#include <stdint.h>

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {

// Latency of timed calls, per function and thread: a log-linear histogram of TSC ticks, 32 buckets
// per power of two (a bucket's midpoint is within 1/64 of any value in it), exact below 32 ticks,
// the last bucket holding everything from 2^47 ticks (about 13 hours at 3 GHz) up.
inline constexpr int kLatencySubBits = 5;
inline constexpr uint32_t kLatencyBuckets = 44u << kLatencySubBits;  // 1408
// A function's histogram is two parts. Most calls touch only the hot part, two adjacent cache
// lines per function in one dense array: the exact minimum and maximum and 8-bit counters for a
// window of 116 buckets (3.6 octaves, from 0.65x the function's median up), placed after its first
// 64 calls and moved when three in four calls since miss it (a program's first calls are often
// slower than its later ones). Calls outside the window or before it is placed, and each window
// counter's every 256th call, go to the cold part (11 KiB, 64-bit counters); a bucket's count is
// the sum of both. With thousands of functions, the cold parts' scattered lines cost a cache and
// TLB miss per call (timing then cost more than trace); the hot parts fit in L2.
inline constexpr uint32_t kLatencyHotBuckets = 116;
inline constexpr uint16_t kLatencyUnplaced = 0xffff;  // LatencyHot::base before placement.
inline constexpr uint32_t kLatencyWarmupCalls = 64;
struct alignas(128) LatencyHot {
  // Exact while every call was shorter than 2^32 - 1 ticks; else min_ticks is the cold part's
  // (while still ~0 here) and max_ticks is ~0 and the cold part has it. Owner writes, relaxed.
  uint32_t min_ticks;
  uint32_t max_ticks;
  uint16_t base;  // First bucket of the window, or kLatencyUnplaced. Release when placed.
  // Odd while the owner moves a full counter, or the whole window, to the cold part; readers
  // retry (a seqlock).
  uint16_t spill_seq;
  uint8_t counts[kLatencyHotBuckets];  // Relaxed.
};
static_assert(sizeof(LatencyHot) == 128, "two cache lines per function");
struct LatencyHistogram {
  uintptr_t fn;  // The function. Immutable once published.
  // The label set (labels.h) of the calls: a function has one histogram per set it ran under.
  // Immutable once published.
  uint32_t labels;
  uint32_t unused;
  uint64_t min_ticks;  // Calls of 2^32 - 1 ticks or more only (see LatencyHot). Owner writes.
  uint64_t max_ticks;
  uint64_t warmup;  // Calls before the window was placed. Owner only, as are the next four.
  // Since the window was placed or last checked: the calls that missed it and the sum of their
  // buckets. A window that three in four calls miss moves to them.
  uint32_t misses;
  uint32_t miss_buckets;
  uint64_t hot_mark;  // Calls the window held (spilled + in its counters) at the last check.
  uint64_t spilled;   // Calls moved from the window's counters to this part.
  uint64_t counts[kLatencyBuckets];  // Relaxed.
};
// Histograms per thread (functions, per label set, that ended timed calls); calls of later ones
// are counted in lost_latency. 4095 x (128 B + 11 KiB) reserved, touched as used; the index
// (function -> histogram) has twice as many slots.
inline constexpr uint32_t kMaxLatencyHistograms = 4095;
inline constexpr uint32_t kLatencyIndexSlots = 8192;

// Bucket b of a value v >= 32 with s = floor(log2 v) - 5 is (v >> s) + 32 s: v >> s is in [32, 64).
// Below 64, s = 0 and the bucket is the value. No branch: the exit hook computes it per call.
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint32_t LatencyBucket32(uint32_t ticks) {
  const int e = 31 - __builtin_clz(ticks | 1);
  const int shift = e > kLatencySubBits ? e - kLatencySubBits : 0;
  return (ticks >> shift) + (static_cast<uint32_t>(shift) << kLatencySubBits);
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint32_t LatencyBucket(uint64_t ticks) {
  const int e = 63 - __builtin_clzll(ticks | 1);
  const int shift = e > kLatencySubBits ? e - kLatencySubBits : 0;
  const uint64_t b = (ticks >> shift) + (static_cast<uint64_t>(shift) << kLatencySubBits);
  return b < kLatencyBuckets ? static_cast<uint32_t>(b) : kLatencyBuckets - 1;
}
// The smallest value of a bucket, and its width.
inline uint64_t LatencyBucketLow(uint32_t b) {
  if (b < (1u << kLatencySubBits)) return b;
  const int e = static_cast<int>(b >> kLatencySubBits) + kLatencySubBits - 1;
  return (uint64_t{32} + (b & 31)) << (e - kLatencySubBits);
}
inline uint64_t LatencyBucketWidth(uint32_t b) {
  if (b < (1u << kLatencySubBits)) return 1;
  return uint64_t{1} << ((b >> kLatencySubBits) - 1);
}

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STATE_LATENCY_HISTOGRAM_H_
