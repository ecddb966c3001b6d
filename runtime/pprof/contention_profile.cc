#include "runtime/pprof/contention_profile.h"

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

using instrument::Contention;
using instrument::ContentionBucket;

int64_t Round(double v) { return static_cast<int64_t>(std::llround(v)); }

std::vector<uintptr_t> Stack(const ContentionBucket& b) {
  return EventStack(b.key.state, b.key.node, b.key.call_site);
}

}  // namespace

std::vector<ContentionBucket> ContentionDelta(const std::vector<ContentionBucket>& begin,
                                              const std::vector<ContentionBucket>& end) {
  std::map<std::tuple<const void*, uint32_t, uintptr_t>, const ContentionBucket*> before;
  for (const auto& b : begin) before[{b.key.state, b.key.node, b.key.call_site}] = &b;
  std::vector<ContentionBucket> out;
  for (ContentionBucket b : end) {
    auto it = before.find({b.key.state, b.key.node, b.key.call_site});
    if (it != before.end()) {
      b.count -= it->second->count;
      b.delay_ns -= it->second->delay_ns;
    }
    if (Round(b.count) != 0 || Round(b.delay_ns) != 0) out.push_back(b);
  }
  return out;
}

void BuildContentionProfile(const std::vector<ContentionBucket>& buckets, Contention which,
                            ProfileBuilder* b) {
  auto& p = b->profile();
  b->AddSampleType("contentions", "count");
  b->AddSampleType("delay", "nanoseconds");
  b->SetPeriod("contentions", "count", 1);
  p.set_time_nanos(instrument::RealtimeNanos());
  std::vector<uint64_t> stack;
  for (const ContentionBucket& c : buckets) {
    const int64_t count = Round(c.count), delay = Round(c.delay_ns);
    if (count == 0 && delay == 0) continue;
    auto* s = p.add_sample();
    NodeStack(c.key.state, c.key.node, c.key.call_site, Leaf::kReturnAddress, 0, b, &stack);
    AddNodeLabels(c.key.state, c.key.node, b, s);
    for (uint64_t id : stack) s->add_location_id(id);
    s->add_value(count);
    s->add_value(delay);
  }
  if (which == Contention::kMutex) {
    const int64_t f = instrument::MutexProfileFraction();
    b->AddComment(f == 0 ? "hookprof: mutex profiling is off (HOOKPROF_MUTEX_FRACTION=0)"
                         : "hookprof: 1 in " + std::to_string(f) +
                               " contended acquisitions sampled; values scaled to estimates");
  } else {
    const int64_t r = instrument::BlockProfileRate();
    b->AddComment(r == 0 ? "hookprof: block profiling is off (HOOKPROF_BLOCK_RATE=0)"
                         : "hookprof: blocking events sampled at rate " + std::to_string(r) +
                               " ns; values are unbiased estimates");
  }
  if (const uint64_t dropped = instrument::ContentionDropped(which); dropped != 0) {
    b->AddComment("hookprof: " + std::to_string(dropped) + " events not recorded (table full)");
  }
}

std::string ContentionText(const std::string& header, const std::vector<ContentionBucket>& buckets,
                           const Symbolizer& symbolizer) {
  std::ostringstream out;
  out << "--- " << header << ":\ncycles/second=1000000000\nsampling period=1\n";
  for (const auto& c : buckets) {
    const int64_t count = Round(c.count), delay = Round(c.delay_ns);
    if (count == 0 && delay == 0) continue;
    out << delay << " " << count << " @";
    out << LegacyStackText(ForLegacyReaders(Stack(c)), symbolizer);
  }
  return out.str();
}

}  // namespace runtime
}  // namespace hookprof
