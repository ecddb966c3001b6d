#include "runtime/trace/trace_memory.h"

#include "runtime/trace/trace.h"

namespace hookprof {
namespace runtime {
namespace {

// In slices; relaxed atomics.
uint64_t g_budget_slices = (uint64_t{128} << 20) / kTraceSliceBytes;
uint64_t g_reserved_slices = 0;
uint64_t g_peak_slices = 0;  // The most reserved since TakeTraceMemoryPeak.

}  // namespace

bool ReserveTraceSlices(uint64_t slices) {
  uint64_t now = __atomic_load_n(&g_reserved_slices, __ATOMIC_RELAXED);
  do {
    if (now + slices > __atomic_load_n(&g_budget_slices, __ATOMIC_RELAXED)) return false;
  } while (!__atomic_compare_exchange_n(&g_reserved_slices, &now, now + slices, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  uint64_t peak = __atomic_load_n(&g_peak_slices, __ATOMIC_RELAXED);
  while (peak < now + slices &&
         !__atomic_compare_exchange_n(&g_peak_slices, &peak, now + slices, true, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {
  }
  return true;
}

void ReturnTraceSlices(uint64_t slices) {
  __atomic_sub_fetch(&g_reserved_slices, slices, __ATOMIC_RELAXED);
}

void SetTraceMemoryBudget(uint64_t bytes) {
  __atomic_store_n(&g_budget_slices, bytes / kTraceSliceBytes, __ATOMIC_RELAXED);
}

uint64_t TraceMemoryInUse() {
  return __atomic_load_n(&g_reserved_slices, __ATOMIC_RELAXED) * kTraceSliceBytes;
}

uint64_t TakeTraceMemoryPeak() {
  const uint64_t now = __atomic_load_n(&g_reserved_slices, __ATOMIC_RELAXED);
  return __atomic_exchange_n(&g_peak_slices, now, __ATOMIC_RELAXED) * kTraceSliceBytes;
}

}  // namespace runtime
}  // namespace hookprof
