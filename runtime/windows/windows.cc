#include "runtime/windows/windows.h"

#include <time.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>

#include "instrument/mode.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/state/clock.h"
#include "instrument/state/thread_state.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/reports/coverage_report.h"
#include "runtime/switching/switching.h"
#include "runtime/symbols/frame_rules_builder.h"

namespace hookprof {
namespace runtime {

CpuWindow CpuWindow::Open() {
  PublishFrameRules();  // Libraries loaded since the last window: their samples walk whole.
  CpuWindow w;
  w.coverage = instrument::CoverageActive();
  if (w.coverage) instrument::CollectCoverage(&w.coverage_begin);
  w.begin = Snapshot::Take();
  return w;
}

void CpuWindow::Close() {
  const Snapshot end = Snapshot::Take();
  duration_nanos = end.time_nanos - begin.time_nanos;
  delta = Snapshot::Delta(begin, end);
  if (coverage) {
    instrument::CoverageCounts now;
    instrument::CollectCoverage(&now);
    coverage_delta = CoverageDelta(coverage_begin, now);
  }
}

bool CpuWindow::Over(int64_t seconds, const Wait& wait, CpuWindow* out) {
  *out = Open();
  if (!wait(seconds * 1000000000)) return false;
  out->Close();
  return true;
}

bool LatencyOverWindow(int64_t seconds, const Wait& wait, LatencyReport* report,
                       const LatencyLabels& labels) {
  // The histograms outside the CPU snapshots: the ticks' clocks span all the calls counted.
  LatencySnapshot begin;
  Snapshot cpu_begin;
  if (seconds > 0) {
    begin = TakeLatency();
    cpu_begin = Snapshot::Take();
    if (!wait(seconds * 1000000000)) return false;
  }
  const Snapshot cpu_end = Snapshot::Take();
  const LatencySnapshot end = TakeLatency();
  *report =
      BuildLatency(begin, end, Snapshot::Delta(cpu_begin, cpu_end), *Symbolizer::Current(), labels);
  report->window_ns = seconds > 0 ? cpu_end.mono_nanos - cpu_begin.mono_nanos : 0;
  return true;
}

ExclusionReport ExclusionsOf(const CpuWindow& window, const ExclusionParams& params,
                             bool gcc_names) {
  const Symbolizer& symbolizer = *Symbolizer::Current();
  ExclusionReport report = FindExclusions(window.delta, window.duration_nanos,
                                          instrument::CpuSamplingPeriodNanos(), symbolizer, params);
  if (gcc_names) SpellGccNames(symbolizer, &report);
  return report;
}

CpuWindow CpuWindow::WholeRun(int64_t duration_nanos) {
  CpuWindow w;
  w.delta = Snapshot::Delta(Snapshot(), Snapshot::Take());
  w.delta.time_nanos = instrument::RealtimeNanos() - duration_nanos;
  w.duration_nanos = duration_nanos;
  w.coverage = instrument::CoverageActive();
  if (w.coverage) instrument::CollectCoverage(&w.coverage_delta);
  return w;
}

void CpuWindow::Build(ProfileBuilder* builder) const {
  BuildCpuProfile(delta, duration_nanos, instrument::CpuSamplingPeriodNanos(), builder);
  if (coverage && !delta.HasCalls()) {
    // No function hooks ran: the cheap mode, function entries from sanitizer coverage.
    const size_t added = AddCoverageCalls(coverage_delta, builder);
    if (added != 0) {
      builder->AddComment("hookprof: calls/count from sanitizer-coverage function entries (" +
                          std::to_string(added) +
                          " functions; no -finstrument-functions, so no call paths)");
    }
  }
  if (instrument::CpuSamplingPeriodNanos() == 0) {
    // Calls are still exact; say so rather than serve a profile without CPU quietly.
    builder->AddComment("hookprof: CPU sampling is off (cpu_hz = 0): only calls are measured");
  }
  // Which calls are exact: every function's but these (the functions endpoint has the list).
  if (std::string unhooked = UnhookedComment(); !unhooked.empty()) {
    builder->AddComment("hookprof: " + unhooked);
  }
}

std::vector<ThreadStack> StackDelta(const std::vector<ThreadStack>& before,
                                    std::vector<ThreadStack> now) {
  auto key = [](const ThreadStack& t) {
    std::vector<uint64_t> k = {static_cast<uint64_t>(t.tid)};
    for (uint32_t n : t.nodes) k.push_back(n);
    return k;
  };
  std::map<std::vector<uint64_t>, int> seen;
  for (const auto& t : before) seen[key(t)]++;
  std::vector<ThreadStack> delta;
  for (auto& t : now) {
    auto it = seen.find(key(t));
    if (it != seen.end() && it->second > 0) {
      it->second--;
    } else {
      delta.push_back(std::move(t));
    }
  }
  return delta;
}

namespace {

struct CoverageBaseline {
  std::mutex mu;
  instrument::CoverageCounts counts;
  std::string since = "since start";
};

CoverageBaseline& Baseline() {
  static auto* baseline = new CoverageBaseline;  // Never destroyed (exit with requests in flight).
  return *baseline;
}

struct TraceSessions {
  std::mutex mu;
  int full = 0;                                          // Sessions reading every event.
  std::multiset<std::pair<uint64_t, uint32_t>> filters;  // (min_ticks, max_depth) of the others.
  bool active = false;                                   // Any session open.
  instrument::Mode before = instrument::kModeProfile;    // The mode when the first opened.
  bool switched = false;                                 // Whether we set `set`.
  instrument::Mode set = instrument::kModeProfile;
};

// Puts the hooks' filter and the mode in line with the open sessions. Under s.mu.
void Apply(TraceSessions& s) {
  if (s.filters.empty()) {
    instrument::SetSliceFilter(false, 0, 0);
  } else {
    uint64_t min_ticks = ~uint64_t{0};
    uint32_t depth = 1;
    for (const auto& [ticks, d] : s.filters) {
      min_ticks = std::min(min_ticks, ticks);
      depth = d == 0 || depth == 0 ? 0 : std::max(depth, d);
    }
    instrument::SetSliceFilter(true, min_ticks, depth);
  }
  const instrument::Mode now = instrument::GetMode();
  if (s.full == 0 && s.filters.empty()) {
    if (s.switched && now == s.set) instrument::SetMode(s.before);
    s.active = s.switched = false;
    return;
  }
  if (!s.active) {
    s.active = true;
    s.before = now;
  }
  if (s.switched && now != s.set) return;  // Someone chose another mode meanwhile.
  const instrument::Mode want =
      s.full > 0 ? instrument::kModeTrace
                 : (instrument::IsTimed(s.before) ? s.before : instrument::kModeTiming);
  if (!s.switched && want == s.before) return;
  if (now != want) instrument::SetMode(want);
  s.switched = want != s.before;
  s.set = want;
}

TraceSessions& Sessions() {
  static auto* sessions = new TraceSessions;  // Never destroyed, as above.
  return *sessions;
}

}  // namespace

instrument::CoverageCounts CoverageSinceBaseline(std::string* since) {
  instrument::CoverageCounts now;
  instrument::CollectCoverage(&now);
  CoverageBaseline& base = Baseline();
  std::lock_guard<std::mutex> lock(base.mu);
  *since = base.since;
  return CoverageDelta(base.counts, now);
}

void ResetCoverageBaseline() {
  instrument::CoverageCounts now;
  instrument::CollectCoverage(&now);
  const time_t t = instrument::RealtimeNanos() / 1000000000;
  char when[64];
  struct tm tm;
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  CoverageBaseline& base = Baseline();
  std::lock_guard<std::mutex> lock(base.mu);
  base.counts = std::move(now);
  base.since = std::string("since the reset at ") + when;
}

void EndTraceSessionsInChild() {
  TraceSessions& s = Sessions();
  new (&s.mu) std::mutex();  // A parent thread may have held it at the fork.
  std::lock_guard<std::mutex> lock(s.mu);
  s.full = 0;
  s.filters.clear();
  Apply(s);
}

TraceSession::TraceSession(const HookSliceFilter& hook) : hook_(hook) {
  TraceSessions& s = Sessions();
  std::lock_guard<std::mutex> lock(s.mu);
  if (hook_.on) {
    s.filters.insert({hook_.min_ticks, hook_.max_depth});
  } else {
    ++s.full;
  }
  Apply(s);
}

TraceSession::~TraceSession() {
  TraceSessions& s = Sessions();
  std::lock_guard<std::mutex> lock(s.mu);
  if (hook_.on) {
    s.filters.erase(s.filters.find({hook_.min_ticks, hook_.max_depth}));
  } else {
    --s.full;
  }
  Apply(s);
}

std::shared_ptr<TraceCollector> RecordTrace(const TraceFilter& filter, int64_t nanos,
                                            const Wait& wait) {
  const HookSliceFilter hook = SliceFilterFor(filter);
  TraceSession session(hook);  // Until the window is over: then the mode from before.
  auto collector = std::make_shared<TraceCollector>(
      filter, TraceStart::Now(), hook.on ? TraceSource::kSlices : TraceSource::kEvents, nanos);
  // Drain the rings every 10 ms while the window is open, so that they only need to hold what
  // a thread writes in that time (a thread in a hot loop writes millions of events a second).
  // The collector ends the window at its deadline, so a late wake-up only delays the reply;
  // the loop ends when the waits add up to the window or the clock has passed it.
  const int64_t end = instrument::MonotonicNanos() + nanos;
  for (int64_t waited = 0; waited < nanos && instrument::MonotonicNanos() < end;) {
    const int64_t step = std::min<int64_t>(nanos - waited, kTracePollNanos);
    if (!wait(step)) return nullptr;
    waited += step;
    collector->Poll();
  }
  collector->Finish();
  return collector;
}

}  // namespace runtime
}  // namespace hookprof
