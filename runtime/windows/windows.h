// Windows: what a profile over [t0, t1] is made of, for the HTTP endpoints (?seconds=N) and the
// exit-time outputs (the whole run) alike.
//
//   CPU window     snapshots at both ends -> delta; with sanitizer coverage and no function
//                  hooks (the cheap mode) the coverage entry counts become calls/count
//   table window   a cumulative table (heap, mutex, block) as it is, or its change
//   stack delta    stacks present at the end that were not at the start (goroutine, threads)
//   coverage       since start, since the last reset (the baseline), or over a window
//   trace session  trace mode while any trace window is open, then the mode from before
//   trace window   a trace session, the rings drained every 10 ms, ended at its deadline
//
// A window waits through a `Wait` the caller injects (the server's can be interrupted: it
// returns false, and the window is abandoned).
//
// Thread-safety: any thread; the coverage baseline and the trace sessions are process-wide and
// locked inside.
#ifndef HOOKPROF_RUNTIME_WINDOWS_WINDOWS_H_
#define HOOKPROF_RUNTIME_WINDOWS_WINDOWS_H_

#include <stdint.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "instrument/coverage/coverage.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/pprof/thread_profile.h"
#include "runtime/reports/exclusions.h"
#include "runtime/reports/latency.h"
#include "runtime/trace/trace.h"

namespace hookprof {
namespace runtime {

// Waits `nanos`; false if the wait was cut short (the server is stopping).
using Wait = std::function<bool(int64_t nanos)>;

struct CpuWindow {
  Snapshot begin;
  Snapshot delta;
  int64_t duration_nanos = 0;
  bool coverage = false;  // Sanitizer coverage is compiled in.
  instrument::CoverageCounts coverage_begin, coverage_delta;

  // A window that starts now; Close() ends it.
  static CpuWindow Open();
  void Close();
  // Open, wait `seconds`, Close. False if the wait was cut short. `duration_nanos` is the time
  // that really passed (more than asked when this thread woke late).
  static bool Over(int64_t seconds, const Wait& wait, CpuWindow* out);
  // The whole run, `duration_nanos` long and ending now.
  static CpuWindow WholeRun(int64_t duration_nanos);

  // The CPU profile of the window: samples, cpu and calls per call path; calls/count from
  // coverage function entries when no function hook ran; comments for what is missing.
  void Build(ProfileBuilder* builder) const;
};

// A cumulative table served as Go serves them: as it is (seconds <= 0), or its change over a
// window of `seconds` (delta(before, after)). False if the wait was cut short.
template <typename Collect, typename Delta, typename Table>
bool TableOverWindow(int64_t seconds, const Wait& wait, Collect collect, Delta delta, Table* out) {
  *out = collect();
  if (seconds <= 0) return true;
  if (!wait(seconds * 1000000000)) return false;
  *out = delta(*out, collect());
  return true;
}

// Latency per function over a window of `seconds` (0: the whole run), with the CPU window over
// the same time whose clocks convert ticks and give total and self times. False if the wait
// was cut short.
bool LatencyOverWindow(int64_t seconds, const Wait& wait, LatencyReport* report,
                       const LatencyLabels& labels = {});

// The functions whose hooks cost more than they tell over `window`; GCC's names spelt from the
// DWARF when `gcc_names` (about 0.5 s on a large program; XRay lists do not need them).
ExclusionReport ExclusionsOf(const CpuWindow& window, const ExclusionParams& params,
                             bool gcc_names);

// Stacks in `now` that were not in `before` (same thread, same call path), counted as a
// multiset: what a goroutine or threadcreate delta shows.
std::vector<ThreadStack> StackDelta(const std::vector<ThreadStack>& before,
                                    std::vector<ThreadStack> now);

// Coverage counted since start or since the last ResetCoverageBaseline; `since` says which.
instrument::CoverageCounts CoverageSinceBaseline(std::string* since);
// Counts from now on are reported relative to the counters as they are now.
void ResetCoverageBaseline();

// What the hooks record while trace windows are open: trace mode while a session reads every
// event; a timed mode (timing, unless the program is in trace or timing already) while only
// hook-filtered sessions are open, with the loosest of their filters in the hooks. When the last
// session ends, the mode from before the first is restored (unless someone chose another mode
// meanwhile).
// In the child of a fork(): the parent's sessions belong to its server threads, which the child
// does not have, so they never end there. Ends them all: the mode from before them again.
void EndTraceSessionsInChild();

class TraceSession {
 public:
  // hook.on: a window filtered in the hooks (SliceFilterFor); else one reading every event.
  explicit TraceSession(const HookSliceFilter& hook = {});
  ~TraceSession();
  TraceSession(const TraceSession&) = delete;
  TraceSession& operator=(const TraceSession&) = delete;

 private:
  const HookSliceFilter hook_;
};

inline constexpr int64_t kTracePollNanos = 10000000;

// A trace window of `nanos` from now, recorded through a TraceSession: events after its end
// are left out and calls running at its end end there, by the TSC the events carry, however
// late this thread runs. The collector is finished (WriteTo encodes it); null if the wait was
// cut short.
std::shared_ptr<TraceCollector> RecordTrace(const TraceFilter& filter, int64_t nanos,
                                            const Wait& wait);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_WINDOWS_WINDOWS_H_
