#include "runtime/pprof/cpu_profile.h"

#include <algorithm>
#include <string>
#include <vector>

#include "instrument/labels.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/state/thread_state.h"

namespace hookprof {
namespace runtime {

void BuildCpuProfile(const Snapshot& delta, int64_t duration_nanos, uint64_t period_nanos,
                     ProfileBuilder* b) {
  auto& p = b->profile();
  // `off` counts no calls: its profile has no column of zeros for them.
  bool any_calls = false;
  for (const ThreadSnapshot& t : delta.threads) {
    for (uint64_t c : t.calls) any_calls = any_calls || c != 0;
  }
  const bool off = instrument::GetMode() == instrument::kModeOff;
  const bool calls_column = any_calls || !off;
  b->AddSampleType("samples", "count");
  b->AddSampleType("cpu", "nanoseconds");
  if (calls_column) b->AddSampleType("calls", "count");
  // Timing and trace modes: exact wall time per call path (a node's own time: its calls' time
  // minus its callees'), so pprof's flat is self time and cum the inclusive time.
  const bool wall = delta.HasWall();
  const double ns_per_tick = delta.NanosPerTick();
  if (wall) b->AddSampleType("wall", "nanoseconds");
  p.set_default_sample_type(b->Intern("cpu"));
  b->SetPeriod("cpu", "nanoseconds", static_cast<int64_t>(period_nanos));
  p.set_time_nanos(delta.time_nanos);
  p.set_duration_nanos(duration_nanos);

  const int64_t thread_key = b->Intern("thread");
  const int64_t tid_key = b->Intern("tid");
  ThreadCounters total;
  std::string blocking;  // Threads that block SIGPROF: "name (tid)", ...
  int blocking_threads = 0;
  std::vector<uint64_t> stack;
  const auto add_sample = [&](const ThreadSnapshot& t, uint32_t node, int64_t thread_name,
                              uint64_t samples, uint64_t calls, uint64_t wall_ticks) {
    auto* s = p.add_sample();
    for (uint64_t id : stack) s->add_location_id(id);
    s->add_value(static_cast<int64_t>(samples));
    s->add_value(static_cast<int64_t>(samples * period_nanos));
    if (calls_column) s->add_value(static_cast<int64_t>(calls));
    if (wall) s->add_value(static_cast<int64_t>(static_cast<double>(wall_ticks) * ns_per_tick));
    auto* l = s->add_label();
    l->set_key(thread_key);
    l->set_str(thread_name);
    l = s->add_label();
    l->set_key(tid_key);
    l->set_num(t.tid);
    AddNodeLabels(t.state, node, b, s);
  };
  for (const ThreadSnapshot& t : delta.threads) {
    const int64_t thread_name = b->Intern(t.name.empty() ? std::to_string(t.tid) : t.name);
    // Samples with their interrupted PC: the leaf is that instruction. The node keeps the rest
    // (PCs lost to a full table) at its function's entry, with its calls.
    std::vector<uint64_t> samples = t.samples;
    for (const PcCount& pc : t.pcs) {
      if (pc.count == 0 || pc.node >= samples.size()) continue;
      const uint64_t n = std::min(pc.count, samples[pc.node]);
      samples[pc.node] -= n;
      if (n == 0) continue;
      NodeStack(t.state, pc.node, pc.pc, Leaf::kInterrupted, pc.site, b, &stack);
      add_sample(t, pc.node, thread_name, n, 0, 0);
    }
    const std::vector<uint64_t> self_ticks =
        wall ? Snapshot::SelfWallTicks(t) : std::vector<uint64_t>();
    for (size_t i = 0; i < t.calls.size(); ++i) {
      const uint64_t self = wall ? self_ticks[i] : 0;
      if (t.calls[i] == 0 && samples[i] == 0 && self == 0) continue;
      NodeStack(t.state, static_cast<uint32_t>(i), 0, Leaf::kNone, 0, b, &stack);
      add_sample(t, static_cast<uint32_t>(i), thread_name, samples[i], t.calls[i], self);
    }
    total.Add(t.counters);
    if (t.blocks_sigprof && ++blocking_threads <= 10) {
      blocking += (blocking.empty() ? "" : ", ") + t.name + " (" + std::to_string(t.tid) + ")";
    }
  }
  b->AddComment("hookprof: " + std::to_string(delta.threads.size()) +
                " threads, CPU sampled every " + std::to_string(period_nanos) +
                " ns of thread CPU time");
  // Which part of a stack is exact and which is sampled: the reader is told.
  b->AddComment(
      "hookprof: call paths down to the deepest hooked function are exact (the hooks); frames "
      "below it, and every frame in mode off or in code built without hooks, come from walking "
      "the frame pointers of each sample (a walk that stopped early ends in " +
      std::string(kStackCutFrame) + ")");
  if (off) {
    b->AddComment(
        "hookprof: mode off at the window's end: calls are not counted "
        "(POST <ctx>/debug/hookprof/mode?set=profile counts them)");
  }
  // Nothing is dropped silently: every loss the recorder counted is stated here.
#define HOOKPROF_THREAD_COUNTER(field, loss, label, comment) \
  if (total.field != 0) b->AddComment("hookprof: " + std::to_string(total.field) + comment);
#include "instrument/state/thread_counters.inc"
#undef HOOKPROF_THREAD_COUNTER
  if (const std::string labels = instrument::LabelStatsComment(); !labels.empty()) {
    b->AddComment(labels);
  }
  if (delta.unattributed_samples != 0) {
    b->AddComment("hookprof: " + std::to_string(delta.unattributed_samples) +
                  " CPU samples landed on threads with nothing recorded");
  }
  if (instrument::CpuSamplingPeriodNanos() != 0 && !instrument::SigprofHandlerIsOurs()) {
    b->AddComment(
        "hookprof: the program installed a SIGPROF handler of its own after hookprof's: CPU "
        "samples stopped then (calls are still counted)");
  }
  if (blocking_threads != 0 && instrument::CpuSamplingPeriodNanos() != 0) {
    b->AddComment("hookprof: " + std::to_string(blocking_threads) +
                  " threads block SIGPROF, so their CPU time is not sampled (calls are still "
                  "counted): " +
                  blocking + (blocking_threads > 10 ? ", ..." : ""));
  }
  if (instrument::ChainsProgramSigprofHandler()) {
    b->AddComment("hookprof: SIGPROF shared with the program's handler: " +
                  std::to_string(instrument::ForeignSigprofSignals()) +
                  " of its own signals passed on to it, not counted as samples");
  }
}

}  // namespace runtime
}  // namespace hookprof
