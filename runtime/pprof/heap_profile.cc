#include "runtime/pprof/heap_profile.h"

#include <time.h>

#include <cmath>
#include <map>
#include <sstream>
#include <tuple>

#include "instrument/state/clock.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/call_stacks.h"

namespace hookprof {
namespace runtime {
namespace {

using instrument::HeapBucket;

std::vector<uintptr_t> Stack(const HeapBucket& b) {
  return EventStack(b.state, b.node, b.call_site);
}

constexpr char kSamplerOff[] =
    "hookprof: heap sampling is off: built with a sanitizer that owns malloc";

int64_t Round(double v) { return static_cast<int64_t>(std::llround(v)); }

}  // namespace

std::vector<HeapBucket> HeapDelta(const std::vector<HeapBucket>& begin,
                                  const std::vector<HeapBucket>& end) {
  std::map<std::tuple<const void*, uint32_t, uintptr_t>, const HeapBucket*> before;
  for (const auto& b : begin) before[{b.state, b.node, b.call_site}] = &b;
  std::vector<HeapBucket> out;
  for (HeapBucket b : end) {
    auto it = before.find({b.state, b.node, b.call_site});
    if (it != before.end()) {
      b.alloc_objects -= it->second->alloc_objects;
      b.alloc_bytes -= it->second->alloc_bytes;
      b.inuse_objects -= it->second->inuse_objects;
      b.inuse_bytes -= it->second->inuse_bytes;
      b.sampled_alloc_objects -= it->second->sampled_alloc_objects;
      b.sampled_alloc_bytes -= it->second->sampled_alloc_bytes;
      b.sampled_inuse_objects -= it->second->sampled_inuse_objects;
      b.sampled_inuse_bytes -= it->second->sampled_inuse_bytes;
    }
    out.push_back(b);
  }
  return out;
}

void BuildHeapProfile(const std::vector<HeapBucket>& buckets, int64_t rate,
                      const std::string& default_type, ProfileBuilder* b) {
  auto& p = b->profile();
  b->AddSampleType("alloc_objects", "count");
  b->AddSampleType("alloc_space", "bytes");
  b->AddSampleType("inuse_objects", "count");
  b->AddSampleType("inuse_space", "bytes");
  p.set_default_sample_type(b->Intern(default_type));
  b->SetPeriod("space", "bytes", rate);
  p.set_time_nanos(instrument::RealtimeNanos());
  std::vector<uint64_t> stack;
  for (const HeapBucket& h : buckets) {
    const int64_t values[4] = {Round(h.alloc_objects), Round(h.alloc_bytes), Round(h.inuse_objects),
                               Round(h.inuse_bytes)};
    if (values[0] == 0 && values[1] == 0 && values[2] == 0 && values[3] == 0) continue;
    auto* s = p.add_sample();
    NodeStack(h.state, h.node, h.call_site, Leaf::kReturnAddress, 0, b, &stack);
    AddNodeLabels(h.state, h.node, b, s);
    for (uint64_t id : stack) s->add_location_id(id);
    for (int64_t v : values) s->add_value(v);
  }
  b->AddComment(instrument::HeapSamplerActive()
                    ? "hookprof: allocations sampled every " + std::to_string(rate) +
                          " bytes on average; values are unbiased estimates"
                    : std::string(kSamplerOff));
  if (const uint64_t dropped = instrument::HeapDroppedSamples(); dropped != 0) {
    b->AddComment("hookprof: " + std::to_string(dropped) +
                  " sampled allocations not recorded "
                  "(tables full)");
  }
}

std::string HeapText(const std::vector<HeapBucket>& buckets, int64_t rate,
                     const Symbolizer& symbolizer) {
  // The samples unscaled, from which readers rebuild the estimates themselves. Go writes
  // "heap/<2 x rate>"; "heap_v2/<rate>" (tcmalloc's) means the same to pprof's parser, and
  // gperftools' pprof reads it with the same formula (its "heap/" reading divides by zero for a
  // stack with nothing in use).
  uint64_t io = 0, ib = 0, ao = 0, ab = 0;
  for (const auto& h : buckets) {
    io += h.sampled_inuse_objects;
    ib += h.sampled_inuse_bytes;
    ao += h.sampled_alloc_objects;
    ab += h.sampled_alloc_bytes;
  }
  std::ostringstream out;
  out << "heap profile: " << io << ": " << ib << " [" << ao << ": " << ab << "] @ heap_v2/" << rate
      << "\n";
  for (const auto& h : buckets) {
    if (h.sampled_alloc_objects == 0 && h.sampled_inuse_objects == 0) continue;
    out << h.sampled_inuse_objects << ": " << h.sampled_inuse_bytes << " ["
        << h.sampled_alloc_objects << ": " << h.sampled_alloc_bytes << "] @";
    out << LegacyStackText(ForLegacyReaders(Stack(h)), symbolizer);
    out << "\n";
  }
  if (!instrument::HeapSamplerActive()) out << "# " << kSamplerOff << "\n";
  return out.str();
}

}  // namespace runtime
}  // namespace hookprof
