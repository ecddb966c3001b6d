// mutex and block profiles from the contention tables (instrument/samplers/contention.h), with Go's
// sample types contentions/count and delay/nanoseconds. Stacks are the waiting call's site, then
// the waiting thread's call path.
#ifndef HOOKPROF_RUNTIME_PPROF_CONTENTION_PROFILE_H_
#define HOOKPROF_RUNTIME_PPROF_CONTENTION_PROFILE_H_

#include <string>
#include <vector>

#include "instrument/samplers/contention.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {

// end - begin, bucket by bucket (for ?seconds=N).
std::vector<instrument::ContentionBucket> ContentionDelta(
    const std::vector<instrument::ContentionBucket>& begin,
    const std::vector<instrument::ContentionBucket>& end);

// `which` names the sampling setting in the profile's comments.
void BuildContentionProfile(const std::vector<instrument::ContentionBucket>& buckets,
                            instrument::Contention which, ProfileBuilder* builder);

// Go's legacy text ("--- mutex:" / "--- contention:", cycles/second, then "cycles count @ pcs"
// lines with symbolized frames). Cycles are nanoseconds (cycles/second=1000000000) and values
// are already scaled for sampling, so the sampling period written is 1. `header` is "mutex" or
// "contention" (what gperftools' pprof recognises for both).
std::string ContentionText(const std::string& header,
                           const std::vector<instrument::ContentionBucket>& buckets,
                           const Symbolizer& symbolizer);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PPROF_CONTENTION_PROFILE_H_
