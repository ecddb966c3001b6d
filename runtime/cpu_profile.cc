#include "runtime/cpu_profile.h"

#include <string>
#include <vector>

namespace hookprof {
namespace runtime {

void BuildCpuProfile(const Snapshot& delta, int64_t duration_nanos, uint64_t period_nanos,
                     ProfileBuilder* b) {
  auto& p = b->profile();
  b->AddSampleType("samples", "count");
  b->AddSampleType("cpu", "nanoseconds");
  b->AddSampleType("calls", "count");
  p.set_default_sample_type(b->Intern("cpu"));
  b->SetPeriod("cpu", "nanoseconds", static_cast<int64_t>(period_nanos));
  p.set_time_nanos(delta.time_nanos);
  p.set_duration_nanos(duration_nanos);

  const int64_t thread_key = b->Intern("thread");
  const int64_t tid_key = b->Intern("tid");
  ThreadCounters total;
  std::vector<uint64_t> path;
  std::vector<uint32_t> nodes_on_path;
  for (const ThreadSnapshot& t : delta.threads) {
    const instrument::Node* nodes = t.state->nodes;
    const int64_t thread_name = b->Intern(t.name.empty() ? std::to_string(t.tid) : t.name);
    for (size_t i = 0; i < t.calls.size(); ++i) {
      const uint64_t calls = t.calls[i], samples = t.samples[i];
      if (calls == 0 && samples == 0) continue;
      CallPath(t.state, static_cast<uint32_t>(i), &nodes_on_path);
      path.clear();
      for (uint32_t j : nodes_on_path) {
        path.push_back(j == instrument::kOverflowNode ? b->PseudoLocation(kDroppedPathsFrame)
                                                      : b->LocationFor(nodes[j].fn));
      }
      if (path.empty()) path.push_back(b->PseudoLocation(kThreadRootFrame));
      auto* s = p.add_sample();
      for (uint64_t id : path) s->add_location_id(id);
      s->add_value(static_cast<int64_t>(samples));
      s->add_value(static_cast<int64_t>(samples * period_nanos));
      s->add_value(static_cast<int64_t>(calls));
      auto* l = s->add_label();
      l->set_key(thread_key);
      l->set_str(thread_name);
      l = s->add_label();
      l->set_key(tid_key);
      l->set_num(t.tid);
    }
    total.truncated_frames += t.counters.truncated_frames;
    total.unmatched_exits += t.counters.unmatched_exits;
    total.resyncs += t.counters.resyncs;
    total.dropped_paths += t.counters.dropped_paths;
    total.interrupted_calls += t.counters.interrupted_calls;
  }
  b->AddComment("hookprof: " + std::to_string(delta.threads.size()) +
                " threads, CPU sampled every " + std::to_string(period_nanos) +
                " ns of thread CPU time");
  // Nothing is dropped silently: every loss the recorder counted is stated here.
  if (total.dropped_paths != 0) {
    b->AddComment("hookprof: " + std::to_string(total.dropped_paths) +
                  " new call paths found the node table full (their calls are under " +
                  kDroppedPathsFrame + ")");
  }
  if (total.interrupted_calls != 0) {
    b->AddComment("hookprof: " + std::to_string(total.interrupted_calls) +
                  " calls made by signal handlers while a hook was updating the same thread were "
                  "not recorded");
  }
  if (total.truncated_frames != 0) {
    b->AddComment("hookprof: " + std::to_string(total.truncated_frames) +
                  " calls deeper than the shadow stack's cap were counted at the cap");
  }
  if (total.resyncs != 0) {
    b->AddComment("hookprof: " + std::to_string(total.resyncs) +
                  " frames left without an exit hook (exception or longjmp) were resynchronised");
  }
  if (total.unmatched_exits != 0) {
    b->AddComment("hookprof: " + std::to_string(total.unmatched_exits) + " unmatched exit hooks");
  }
  if (delta.unattributed_samples != 0) {
    b->AddComment("hookprof: " + std::to_string(delta.unattributed_samples) +
                  " CPU samples landed on threads with nothing recorded");
  }
}

}  // namespace runtime
}  // namespace hookprof
