// heap and allocs profiles from the sampled allocations (instrument/samplers/heap_sampler.h), with
// Go's sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes.
// Stacks are the allocation's call site, then the allocating thread's call path.
#ifndef HOOKPROF_RUNTIME_PPROF_HEAP_PROFILE_H_
#define HOOKPROF_RUNTIME_PPROF_HEAP_PROFILE_H_

#include <string>
#include <vector>

#include "instrument/samplers/heap_sampler.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {

// end - begin, bucket by bucket (for ?seconds=N).
std::vector<instrument::HeapBucket> HeapDelta(const std::vector<instrument::HeapBucket>& begin,
                                              const std::vector<instrument::HeapBucket>& end);

// `default_type` is "inuse_space" (heap) or "alloc_space" (allocs).
void BuildHeapProfile(const std::vector<instrument::HeapBucket>& buckets, int64_t rate,
                      const std::string& default_type, ProfileBuilder* builder);

// Go's legacy text: "heap profile: a: b [c: d] @ heap_v2/<rate>" then one line per stack, with
// the samples unscaled (readers scale them by the rate).
std::string HeapText(const std::vector<instrument::HeapBucket>& buckets, int64_t rate,
                     const Symbolizer& symbolizer);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PPROF_HEAP_PROFILE_H_
