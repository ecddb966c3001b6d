// gperftools' legacy binary CPU profile, the only format google-pprof (the Perl pprof of
// Debian's google-perftools) reads:
//   header  [0, 3, 0, period_us, 0]           (machine words)
//   records [count, depth, pc_leaf, pc_caller, ...]
//   trailer [0, 1, 0]
//   then the text of /proc/self/maps
// It has one value per stack (samples), so exact call counts are not in it; the pprof format
// (cpu_profile.h) carries everything.
#ifndef HOOKPROF_RUNTIME_PPROF_LEGACY_CPU_PROFILE_H_
#define HOOKPROF_RUNTIME_PPROF_LEGACY_CPU_PROFILE_H_

#include <stdint.h>

#include <string>

#include "runtime/core/snapshot.h"

namespace hookprof {
namespace runtime {

std::string EncodeLegacyCpuProfile(const Snapshot& delta, uint64_t period_nanos);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PPROF_LEGACY_CPU_PROFILE_H_
