// Execution traces from the per-thread trace rings (trace mode): every enter and exit in a
// window, paired into slices with begin and end timestamps, handed to a TraceWriter (Perfetto
// or Chrome JSON). The package: trace_ring (reading a ring), trace_filter (what is kept),
// trace_writer (the formats), and this collector.
//
// Timestamps: the rings hold TSC values (invariant TSC: constant_tsc and nonstop_tsc on x86).
// A window reads (TSC, CLOCK_MONOTONIC) at its start and at its end and converts linearly:
// ns(tsc) = mono_end - (tsc_end - tsc) * (mono_end - mono_start) / (tsc_end - tsc_start). The
// flight recorder (whole run) uses the pair taken when recording started instead of the window
// start.
//
// Windows: events are copied from each ring between the heads read at the window's start and
// end. Whatever a ring overwrote before it was copied is counted (lost_events), reported in the
// trace (an instant event on the thread's track) and in the response header. Slices open at
// either edge of the window are clipped to it.
//
// Thread-safety: any thread, concurrently with the hooks; a collector has one owner.
#ifndef HOOKPROF_RUNTIME_TRACE_TRACE_H_
#define HOOKPROF_RUNTIME_TRACE_TRACE_H_

#include <stdint.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "instrument/state/thread_state.h"
#include "runtime/trace/trace_filter.h"
#include "runtime/trace/trace_writer.h"

namespace hookprof {
namespace runtime {

// Where a window starts: each thread's ring heads and a calibration pair.
struct TraceStart {
  struct Heads {
    const instrument::ThreadState* state;
    uint64_t events;    // ring_head
    uint64_t slices;    // slice_head
    uint64_t failures;  // ring_failures
  };
  std::vector<Heads> heads;
  uint64_t tsc = 0;
  int64_t mono_ns = 0;
  // Marks the start of a window now.
  static TraceStart Now();
  // The start of the whole run: every event still in the rings.
  static TraceStart Beginning();
};

// Where a collector reads: every event (trace mode's rings) or the hooks' slices.
enum class TraceSource { kEvents, kSlices };

// Collects a trace while its window is open: Poll() drains every thread's ring into slices
// (filters applied as slices close, so a long window keeps only what passes them), so the
// rings need only hold what is written between two polls.
class TraceCollector {
 public:
  // A window from `start` (TraceStart::Now() for one starting now). The filter must be valid
  // (ValidateTraceFilter). kSlices: calls still running when the window ends are read from the
  // threads' shadow stacks (they have not reached their exit hook), clipped to the window.
  // With `length_nanos`, the window ends exactly that long after `start` by the clock the
  // events carry, even if Finish runs later (a busy machine): events after the end are left
  // out, calls running at the end are clipped to it. Without, it ends when Finish is called.
  TraceCollector(const TraceFilter& filter, const TraceStart& start,
                 TraceSource source = TraceSource::kEvents, int64_t length_nanos = 0);
  ~TraceCollector();
  TraceCollector(const TraceCollector&) = delete;
  TraceCollector& operator=(const TraceCollector&) = delete;

  void Poll();
  // Ends the window: a final poll, slices still open closed at its end, ordered and counted.
  // The returned stats (all but bytes) hold for WriteTo. Idempotent.
  TraceStats Finish();
  // Finish, then the trace in `format`, in pieces, to `sink`; stops early if the sink fails
  // (TraceWriter::failed). Slices are freed as they are written.
  TraceStats WriteTo(TraceFormat format, const TraceSink& sink);

 private:
  struct Thread;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes the trace of [start, now] in `format` to `sink` in pieces (the trace is never held
// whole in memory); with TraceStart::Beginning(), the flight recorder. Returns what was written.
TraceStats WriteTrace(const TraceStart& start, const TraceFilter& filter, TraceFormat format,
                      const TraceSink& sink);

// Kept slices of all open collectors together stay within `bytes` (24 bytes a slice); past it,
// slices are dropped and counted, and the trace says so. Default 128 MiB.
void SetTraceMemoryBudget(uint64_t bytes);
// Bytes of that budget held by open collectors now.
uint64_t TraceMemoryInUse();
// The most held at once since the last call (a window's slices may come and go between two
// looks at TraceMemoryInUse).
uint64_t TakeTraceMemoryPeak();

// What every trace window so far lost, summed when each one finished (each window also states
// its own in its response): events overwritten before they were read, slices dropped.
struct TraceLossTotals {
  uint64_t lost_events = 0;
  uint64_t dropped_slices = 0;
};
TraceLossTotals TraceLosses();

// Records the calibration pair used for whole-run traces; call when recording starts.
void NoteTraceEpoch();

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_TRACE_TRACE_H_
