// The CPU profile: pprof samples per (thread, call path) with values
//   samples/count, cpu/nanoseconds (sampled CPU time), calls/count (exact calls).
#ifndef HOOKPROF_RUNTIME_PPROF_CPU_PROFILE_H_
#define HOOKPROF_RUNTIME_PPROF_CPU_PROFILE_H_

#include <stdint.h>

#include "runtime/core/snapshot.h"
#include "runtime/pprof/call_stacks.h"
#include "runtime/pprof/profile_builder.h"

namespace hookprof {
namespace runtime {

// Adds the samples of `delta` (a window's Snapshot::Delta) to `builder` with the CPU profile's
// sample types and metadata. `period_nanos` is the CPU sampling period.
void BuildCpuProfile(const Snapshot& delta, int64_t duration_nanos, uint64_t period_nanos,
                     ProfileBuilder* builder);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PPROF_CPU_PROFILE_H_
