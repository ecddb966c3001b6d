// Execution traces from the per-thread trace rings (trace mode): every enter and exit in a
// window, paired into slices with begin and end timestamps, written as a Perfetto trace
// (protobuf) or as Chrome Trace Event JSON.
//
// Timestamps: the rings hold TSC values (invariant TSC: constant_tsc and nonstop_tsc on x86).
// A window reads (TSC, CLOCK_MONOTONIC) at its start and at its end and converts linearly:
// ns(tsc) = mono_end - (tsc_end - tsc) * (mono_end - mono_start) / (tsc_end - tsc_start). The
// flight recorder (whole run) uses the pair taken when recording started instead of the window
// start. Full TSC values are rebuilt from the events' low 42 bits backwards from tsc_end.
//
// Windows: events are copied from each ring between the heads read at the window's start and
// end. A ring overwrites its oldest events; whatever was overwritten before it was copied is
// counted (lost_events), reported in the trace (an instant event on the thread's track) and in
// the response header. Slices open at either edge of the window are clipped to it.
//
// Thread-safety: any thread, concurrently with the hooks.
#ifndef HOOKPROF_RUNTIME_TRACE_H_
#define HOOKPROF_RUNTIME_TRACE_H_

#include <stdint.h>

#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "instrument/thread_state.h"
#include "runtime/symbolizer.h"

namespace hookprof {
namespace runtime {

struct TraceFilter {
  int64_t min_ns = 0;  // Drop slices shorter than this.
  int max_depth = 0;   // Drop slices deeper than this (1 = outermost only); 0 = no limit.
  std::string include;  // Keep only functions whose name matches (ECMAScript regex), if set.
  std::string exclude;  // Drop functions whose name matches, if set.
};

// Checks the filter's regular expressions; false with a one-line reason if one is invalid.
bool ValidateTraceFilter(const TraceFilter& filter, std::string* reason);

struct TraceStart {
  std::vector<std::pair<const instrument::ThreadState*, uint64_t>> heads;
  uint64_t tsc = 0;
  int64_t mono_ns = 0;
  // Marks the start of a window now.
  static TraceStart Now();
  // The start of the whole run: every event still in the rings.
  static TraceStart Beginning();
};

struct TraceStats {
  uint64_t slices = 0;
  uint64_t events = 0;       // Ring events read.
  uint64_t lost_events = 0;  // Overwritten before they could be read.
  uint64_t threads = 0;
  uint64_t bytes = 0;
};

enum class TraceFormat { kPerfetto, kJson };

// Writes the trace of [start, now] in `format` to `sink` in pieces (the trace is never held
// whole in memory). Returns what was written.
TraceStats WriteTrace(const TraceStart& start, const TraceFilter& filter, TraceFormat format,
                      const std::function<void(const std::string&)>& sink);

// Records the calibration pair used for whole-run traces; call when recording starts.
void NoteTraceEpoch();

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_TRACE_H_
