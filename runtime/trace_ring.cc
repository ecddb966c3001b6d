#include "runtime/trace_ring.h"

#include <algorithm>

namespace hookprof {
namespace runtime {
namespace {

constexpr uint64_t kLow42 = (uint64_t{1} << 42) - 1;

}  // namespace

std::vector<TraceEvent> ReadTraceRing(const instrument::ThreadState* s, uint64_t from,
                                      uint64_t tsc_end, uint64_t* lost, uint64_t* next) {
  std::vector<TraceEvent> out;
  const uint64_t* ring = __atomic_load_n(&s->ring, __ATOMIC_ACQUIRE);
  if (ring == nullptr) return out;
  const uint64_t cap = s->ring_mask + 1;
  const uint64_t head = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
  *next = std::max(head, from);
  // Every event below `head` was stamped before this TSC read (lfence: not read early).
  __builtin_ia32_lfence();
  const uint64_t tsc_now = __builtin_ia32_rdtsc();
  uint64_t begin = std::max(from, head > cap ? head - cap : 0);
  *lost += begin - std::min(begin, from);
  std::vector<uint64_t> raw(head > begin ? head - begin : 0);
  for (uint64_t i = begin; i < head; ++i) {
    raw[i - begin] = __atomic_load_n(&ring[i & s->ring_mask], __ATOMIC_RELAXED);
  }
  // The writer may have lapped the copy: anything it could have overwritten meanwhile is lost.
  const uint64_t head_after = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
  const uint64_t safe = head_after > cap ? head_after - cap : 0;
  size_t skip = 0;
  if (safe > begin) {
    skip = std::min<uint64_t>(safe - begin, raw.size());
    *lost += skip;
  }
  out.reserve(raw.size() - skip);
  uint64_t prev = tsc_now;
  for (size_t i = raw.size(); i-- > skip;) {
    const uint64_t e = raw[i];
    const uint32_t node = (e >> instrument::kEventNodeShift) & instrument::kEventNodeMask;
    if (node == 0) continue;  // Sync event: backwards reconstruction does not need it.
    const uint64_t low = e >> instrument::kEventTscShift;
    const uint64_t full = prev - ((prev - low) & kLow42);
    prev = full;
    if (full > tsc_end) continue;  // After the window: the thread ran on while we read.
    out.push_back({full, node, (e & instrument::kEventExit) != 0});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace runtime
}  // namespace hookprof
