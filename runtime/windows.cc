#include "runtime/windows.h"

#include <time.h>

#include <map>
#include <mutex>

#include "instrument/clock.h"
#include "instrument/cpu_sampler.h"
#include "instrument/thread_state.h"
#include "runtime/coverage_report.h"
#include "runtime/cpu_profile.h"

namespace hookprof {
namespace runtime {

CpuWindow CpuWindow::Open() {
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
    coverage_delta = SubtractCoverage(now, coverage_begin);
  }
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
  int open = 0;
  instrument::Mode before = instrument::kModeProfile;
};

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
  return SubtractCoverage(now, base.counts);
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

TraceSession::TraceSession() {
  TraceSessions& s = Sessions();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.open++ == 0) {
    s.before = instrument::GetMode();
    if (s.before != instrument::kModeTrace) instrument::SetMode(instrument::kModeTrace);
  }
}

TraceSession::~TraceSession() {
  TraceSessions& s = Sessions();
  std::lock_guard<std::mutex> lock(s.mu);
  if (--s.open == 0 && s.before != instrument::kModeTrace &&
      instrument::GetMode() == instrument::kModeTrace) {
    instrument::SetMode(s.before);
  }
}

}  // namespace runtime
}  // namespace hookprof
