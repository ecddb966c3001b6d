// Internal to the coverage runtime: the per-thread shard the callbacks count into.
#ifndef HOOKPROF_INSTRUMENT_COVERAGE_COVERAGE_SHARD_H_
#define HOOKPROF_INSTRUMENT_COVERAGE_COVERAGE_SHARD_H_

#include <stdint.h>

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {
namespace coverage {

inline constexpr uint32_t kPageBits = 12;
inline constexpr uint32_t kPageEdges = 1u << kPageBits;
inline constexpr uint32_t kPages = (1u << 24) >> kPageBits;
inline constexpr uint32_t kPcSlotBits = 18;
inline constexpr uint32_t kPcSlots = 1u << kPcSlotBits;

struct PcSlot {
  uintptr_t pc;  // Published with release after `hits` is ready; 0 = free.
  uint64_t hits;
};

struct Shard {
  uint64_t* pages[kPages];  // Edge counters, kPageEdges per page, mapped on first use.
  PcSlot* pc_slots;         // trace-pc table, mapped on first use.
  uint32_t pc_used;
  uint64_t dropped;
  int owned;  // 1 while a live thread counts into this shard.
};

// The calling thread's shard; nullptr until its first callback.
extern __thread Shard* t_shard __attribute__((tls_model("initial-exec")));

HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint32_t PcHash(uintptr_t pc) {
  return static_cast<uint32_t>((pc * 0x9E3779B97F4A7C15ull) >> (64 - kPcSlotBits));
}

// One increment as a single instruction: atomic with respect to a signal handler on the same
// thread, and no lock prefix (only this thread writes the counter; readers load relaxed).
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE void Bump(uint64_t* counter) {
  asm volatile("addq $1, %0" : "+m"(*counter));
}

// Everything the callbacks' fast paths leave out (first hits, a thread's first callback).
void GuardSlow(uint32_t id, uintptr_t return_address);
void TracePcSlow(uintptr_t pc);
void RegisterGuards(uint32_t* start, uint32_t* stop);
void RegisterPcTable(const uintptr_t* begin, const uintptr_t* end);

}  // namespace coverage
}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_COVERAGE_COVERAGE_SHARD_H_
