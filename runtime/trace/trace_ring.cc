#include "runtime/trace/trace_ring.h"

#include <algorithm>

#include "instrument/state/tsc.h"

namespace hookprof {
namespace runtime {
namespace {

// Indexes below this may have been overwritten by now: the owner may be writing index `head`
// already, over `head - cap`.
uint64_t Oldest(uint64_t head, uint64_t cap) { return head + 1 > cap ? head + 1 - cap : 0; }
uint64_t SafeFrom(const instrument::ThreadState* s, uint64_t cap) {
  return Oldest(__atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE), cap);
}

uint64_t SafeSliceFrom(const instrument::ThreadState* s, uint64_t cap) {
  return Oldest(__atomic_load_n(&s->slice_head, __ATOMIC_ACQUIRE), cap);
}

}  // namespace

void ReadTraceRing(const instrument::ThreadState* s, uint64_t from, uint64_t tsc_end,
                   uint64_t* lost, uint64_t* next,
                   const std::function<void(const std::vector<TraceEvent>&)>& visit) {
  const uint64_t* ring = __atomic_load_n(&s->ring, __ATOMIC_ACQUIRE);
  if (ring == nullptr) return;
  const uint64_t cap = s->ring_mask + 1;
  const uint64_t head = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
  *next = std::max(head, from);
  // Every event below `head` was stamped before this TSC read (lfence: not read early).
  __builtin_ia32_lfence();
  const uint64_t tsc_now = instrument::ReadTsc();
  const uint64_t begin = std::max(from, Oldest(head, cap));
  *lost += begin - std::min(begin, from);
  if (head <= begin) return;
  auto load = [ring, s](uint64_t i) {
    return __atomic_load_n(&ring[i & s->ring_mask], __ATOMIC_RELAXED);
  };
  // Pass 1, backwards: the full TSC just after each batch (batch k is [begin + k * B, ...)).
  const uint64_t batches = (head - begin + kTraceBatchEvents - 1) / kTraceBatchEvents;
  std::vector<uint64_t> after(batches);
  uint64_t prev = tsc_now;
  for (uint64_t i = head; i-- > begin;) {
    if (i + 1 == head || (i + 1 - begin) % kTraceBatchEvents == 0) {
      after[(i - begin) / kTraceBatchEvents] = prev;
    }
    const uint64_t e = load(i);
    if (!instrument::IsSync(e))
      prev = instrument::EventTscBefore(prev, e);  // Sync events are not needed backwards.
  }
  // Pass 2, forwards by batch: copy, drop what the writer may have overwritten meanwhile
  // (lost), decode backwards within the batch from the value pass 1 found after it.
  std::vector<uint64_t> raw;
  std::vector<TraceEvent> out;
  uint64_t start = begin;  // Below this, overwritten.
  for (uint64_t k = 0; k < batches; ++k) {
    const uint64_t lo = begin + k * kTraceBatchEvents;
    const uint64_t hi = std::min(lo + kTraceBatchEvents, head);
    if (hi <= start) continue;
    raw.clear();
    for (uint64_t i = std::max(lo, start); i < hi; ++i) raw.push_back(load(i));
    const uint64_t safe = SafeFrom(s, cap);
    if (safe > start) {
      *lost += std::min(safe, head) - start;
      start = std::min(safe, head);
    }
    out.clear();
    prev = after[k];
    const uint64_t first = std::max(lo, start);
    for (uint64_t i = hi; i-- > first;) {
      const uint64_t e = raw[i - (hi - raw.size())];
      if (instrument::IsSync(e)) continue;
      prev = instrument::EventTscBefore(prev, e);
      if (prev > tsc_end) continue;  // After the window: the thread ran on while we read.
      out.push_back({prev, instrument::EventNode(e), instrument::IsExit(e)});
    }
    std::reverse(out.begin(), out.end());
    if (!out.empty()) visit(out);
  }
}

void ReadSliceRing(const instrument::ThreadState* s, uint64_t from, uint64_t* lost, uint64_t* next,
                   const std::function<void(const std::vector<instrument::SliceRecord>&)>& visit) {
  const instrument::SliceRecord* ring = __atomic_load_n(&s->slices, __ATOMIC_ACQUIRE);
  if (ring == nullptr) return;
  const uint64_t cap = s->slice_mask + 1;
  const uint64_t head = __atomic_load_n(&s->slice_head, __ATOMIC_ACQUIRE);
  *next = std::max(head, from);
  uint64_t start = std::max(from, Oldest(head, cap));
  *lost += start - std::min(start, from);
  std::vector<instrument::SliceRecord> out;
  for (uint64_t lo = start; lo < head; lo += kTraceBatchEvents) {
    const uint64_t hi = std::min(lo + kTraceBatchEvents, head);
    out.clear();
    for (uint64_t i = std::max(lo, start); i < hi; ++i) {
      const instrument::SliceRecord& r = ring[i & s->slice_mask];
      out.push_back({__atomic_load_n(&r.begin, __ATOMIC_RELAXED),
                     __atomic_load_n(&r.end, __ATOMIC_RELAXED),
                     __atomic_load_n(&r.node, __ATOMIC_RELAXED),
                     __atomic_load_n(&r.depth, __ATOMIC_RELAXED)});
    }
    // Records the owner may have rewritten while they were copied are not to be trusted.
    const uint64_t safe = SafeSliceFrom(s, cap);
    size_t skip = 0;
    if (safe > std::max(lo, start)) {
      skip = std::min(safe, hi) - std::max(lo, start);
      *lost += skip;
      start = std::min(safe, head);
    }
    if (out.size() > skip) {
      out.erase(out.begin(), out.begin() + skip);
      visit(out);
    }
  }
}

}  // namespace runtime
}  // namespace hookprof
