// The memory budget every open trace collector's kept slices share (trace.h's
// SetTraceMemoryBudget, TraceMemoryInUse, TakeTraceMemoryPeak are its public face). Collectors
// take slices from it in blocks and give them back when they end. Internal to runtime/trace.
//
// Thread-safety: any thread; lock-free.
#ifndef HOOKPROF_RUNTIME_TRACE_TRACE_MEMORY_H_
#define HOOKPROF_RUNTIME_TRACE_TRACE_MEMORY_H_

#include <stdint.h>

namespace hookprof {
namespace runtime {

// The size of a kept slice (trace.cc checks it).
inline constexpr uint64_t kTraceSliceBytes = 24;

// Takes `slices` from the budget; false, taking nothing, when they do not fit.
bool ReserveTraceSlices(uint64_t slices);
// Gives back what ReserveTraceSlices took.
void ReturnTraceSlices(uint64_t slices);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_TRACE_TRACE_MEMORY_H_
