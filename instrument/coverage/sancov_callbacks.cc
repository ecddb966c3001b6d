// The sanitizer-coverage callbacks the compiler calls (-fsanitize-coverage=trace-pc-guard,
// func,trace-pc-guard, pc-table; GCC: trace-pc). Separate from the counters so that programs
// that bring their own (libFuzzer) can still link the rest of hookprof.
//
// Fast path, per edge: one TLS load, two dependent loads, one non-atomic add. The slow paths
// (a thread's first callback, a page or PC seen first on this thread) are out of line.
#include <stdint.h>

#include "instrument/attributes.h"
#include "instrument/coverage/coverage_shard.h"

using hookprof::instrument::coverage::Bump;
using hookprof::instrument::coverage::GuardSlow;
using hookprof::instrument::coverage::kPageBits;
using hookprof::instrument::coverage::kPageEdges;
using hookprof::instrument::coverage::kPcSlots;
using hookprof::instrument::coverage::PcHash;
using hookprof::instrument::coverage::Shard;
using hookprof::instrument::coverage::t_shard;
using hookprof::instrument::coverage::TracePcSlow;

extern "C" {

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void __sanitizer_cov_trace_pc_guard(uint32_t* guard) {
  const uint32_t id = *guard;
  Shard* s = t_shard;
  if (HOOKPROF_LIKELY(s != nullptr)) {
    uint64_t* page = s->pages[id >> kPageBits];
    if (HOOKPROF_LIKELY(page != nullptr)) {
      uint64_t* counter = &page[id & (kPageEdges - 1)];
      // Zero: the edge's first hit on this thread (it may still need its PC), or id 0.
      if (HOOKPROF_LIKELY(*counter != 0)) {
        Bump(counter);
        return;
      }
    }
  }
  GuardSlow(id, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void __sanitizer_cov_trace_pc() {
  const uintptr_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0)) - 1;
  Shard* s = t_shard;
  if (HOOKPROF_LIKELY(s != nullptr && s->pc_slots != nullptr)) {
    auto* slot = &s->pc_slots[PcHash(pc) & (kPcSlots - 1)];
    if (HOOKPROF_LIKELY(slot->pc == pc)) {
      Bump(&slot->hits);
      return;
    }
  }
  TracePcSlow(pc);
}

HOOKPROF_NO_INSTRUMENT void __sanitizer_cov_trace_pc_guard_init(uint32_t* start, uint32_t* stop) {
  hookprof::instrument::coverage::RegisterGuards(start, stop);
}

HOOKPROF_NO_INSTRUMENT void __sanitizer_cov_pcs_init(const uintptr_t* begin, const uintptr_t* end) {
  hookprof::instrument::coverage::RegisterPcTable(begin, end);
}

}  // extern "C"
