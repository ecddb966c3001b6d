// Latency per function (timing mode): calls, total and self wall time, and the distribution of
// call durations (min, p50, p90, p99, max) from the per-thread, per-function histograms the exit
// hooks fill (instrument::LatencyHistogram), merged across threads when read.
//
// Percentiles are the midpoints of log-linear buckets: within 1/64 (1.6 %) of a value that was
// measured, and clamped to the exact minimum and maximum. Over a window, the minimum and maximum
// are those of the lowest and highest buckets that changed (the exact ones are kept for the
// whole run only).
//
// Thread-safety: TakeLatency may run on any thread, concurrently with the hooks; the rest are
// pure functions of their arguments.
#ifndef HOOKPROF_RUNTIME_REPORTS_LATENCY_H_
#define HOOKPROF_RUNTIME_REPORTS_LATENCY_H_

#include <stdint.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "instrument/state/thread_state.h"
#include "runtime/core/snapshot.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {

struct PathLatency {
  uintptr_t fn = 0;
  uint32_t labels = 0;                  // Label set (instrument/labels.h) of the calls.
  std::map<uint32_t, uint64_t> counts;  // Bucket -> calls (non-zero buckets only).
  uint64_t min_ticks = 0, max_ticks = 0;
};

// Every histogram of every thread, keyed by (thread, histogram index).
using LatencySnapshot = std::map<std::pair<const instrument::ThreadState*, uint32_t>, PathLatency>;
LatencySnapshot TakeLatency();
// Timed calls lost because a thread's histogram table was full, all threads.
uint64_t LostLatency();

struct LatencyRow {
  std::string name;
  std::string group;  // The value of LatencyLabels::by in the calls' labels ("" without).
  uint64_t calls = 0;
  double total_ns = 0, self_ns = 0;
  double min_ns = 0, p50_ns = 0, p90_ns = 0, p99_ns = 0, max_ns = 0;
};

struct LatencyReport {
  std::string by;  // LatencyLabels::by.
  std::vector<LatencyRow> rows;
  int64_t window_ns = 0;  // 0: the whole run.
  uint64_t lost = 0;
};

// Which calls by their labels (instrument/labels.h): those whose labels hold every pair of
// `match`, one row per function and value of the key `by` when it is not empty.
struct LatencyLabels {
  std::vector<std::pair<std::string, std::string>> match;
  std::string by;
};

// The report of `end` - `begin` (begin empty: the whole run); totals and self times from the
// same window's CPU snapshot delta, whose clocks convert ticks to nanoseconds.
LatencyReport BuildLatency(const LatencySnapshot& begin, const LatencySnapshot& end,
                           const Snapshot& delta, const Symbolizer& symbolizer,
                           const LatencyLabels& labels = {});

// Sorts by a column (total, self, calls, min, p50, p90, p99, max, name; largest first, names
// A-Z) and keeps the first `top` rows (0: all). False for an unknown column.
bool SortLatency(const std::string& column, size_t top, LatencyReport* report);

std::string LatencyText(const LatencyReport& report);
// {"functions":[{"name","calls","total_ns","self_ns","min_ns","p50_ns","p90_ns","p99_ns",
// "max_ns"}],"window_ns":N,"lost_calls":N}; grouped (LatencyLabels::by), each row also has
// "labels":{"<by>":"<value>"}.
std::string LatencyJson(const LatencyReport& report);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_REPORTS_LATENCY_H_
