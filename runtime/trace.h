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
  // Write only the outermost N levels of the slices the other filters keep; 0 = no limit.
  int max_depth = 0;
  std::string include;  // Keep only functions whose name matches (ECMAScript regex), if set.
  std::string exclude;  // Drop functions whose name matches, if set.
  // At most this many slices are kept (24 bytes each, about 50 bytes each once encoded);
  // further ones are dropped and counted. A hot loop makes tens of millions of calls a second:
  // filters (min_ns above all) keep long windows useful.
  uint64_t max_slices = 2000000;
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
  uint64_t dropped_slices = 0;  // Over TraceFilter::max_slices.
};

enum class TraceFormat { kPerfetto, kJson };

// Collects a trace while its window is open: Poll() drains every thread's ring into slices
// (filters applied as slices close, so a long window keeps only what passes them), so the
// rings need only hold what is written between two polls. Not thread-safe: one owner.
class TraceCollector {
 public:
  // A window starting now, or (from_beginning) everything the rings still hold.
  TraceCollector(const TraceFilter& filter, bool from_beginning);
  ~TraceCollector();
  TraceCollector(const TraceCollector&) = delete;
  TraceCollector& operator=(const TraceCollector&) = delete;

  void Poll();
  // Final poll, then the trace in `format`, in pieces, to `sink`.
  TraceStats Write(TraceFormat format, const std::function<void(const std::string&)>& sink);

 private:
  friend TraceStats WriteTrace(const struct TraceStart&, const TraceFilter&, TraceFormat,
                               const std::function<void(const std::string&)>&);
  struct Thread;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes the trace of [start, now] in `format` to `sink` in pieces (the trace is never held
// whole in memory). Returns what was written.
TraceStats WriteTrace(const TraceStart& start, const TraceFilter& filter, TraceFormat format,
                      const std::function<void(const std::string&)>& sink);

// Records the calibration pair used for whole-run traces; call when recording starts.
void NoteTraceEpoch();

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_TRACE_H_
