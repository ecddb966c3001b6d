// The files written when the program ends (normal exit, SIGTERM/SIGINT, abort or a fatal
// signal left at their default action): the whole run's CPU profile, the flight recorder's trace,
// the coverage, the latency table, the exclusion list. The caller says what to write; nothing here
// reads options or the environment.
//
// Thread-safety: WriteExitOutputs from one thread at a time (the caller makes it run once).
// The signal handlers InstallTerminationWriter installs only write a byte to a pipe (a fatal
// signal's then waits on another, with poll).
#ifndef HOOKPROF_RUNTIME_OUTPUTS_EXIT_OUTPUTS_H_
#define HOOKPROF_RUNTIME_OUTPUTS_EXIT_OUTPUTS_H_

#include <stdint.h>

#include <string>

#include "runtime/trace/trace_filter.h"

namespace hookprof {
namespace runtime {

struct ExitOutputs {
  // Paths as they are to be opened; empty: not written.
  std::string profile;   // pprof CPU profile of the whole run.
  std::string trace;     // Perfetto, or Chrome JSON when the name ends in .json.
  std::string coverage;  // lcov; pprof for .pb.gz; the per-function text for .txt.
  std::string latency;   // Latency per function: JSON for .json, else text.
  // Functions whose hooks cost more than they tell: GCC's flag for .gcc, XRay's list for .xray,
  // else the table with both.
  std::string exclusions;
  TraceFilter trace_filter;
  int64_t run_nanos = 0;  // How long the program has run (the profile's duration).

  bool any() const {
    return !profile.empty() || !trace.empty() || !coverage.empty() || !latency.empty() ||
           !exclusions.empty();
  }
};

// Writes each file asked for, saying on stderr what was written or why not.
void WriteExitOutputs(const ExitOutputs& outputs);

// Where SIGTERM and SIGINT are still at their default action (they would end the process
// without running atexit handlers), calls `write` on a watcher thread when one arrives, then
// restores the default action and re-raises the signal, so the process ends as it would have.
// The same for abort() and fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) at their
// default: the faulting thread waits up to 15 s for `write`, then the signal ends the process.
// Installs once; later calls do nothing.
void InstallTerminationWriter(void (*write)());

// In the child of a fork(), which has no watcher thread and writes no files of the parent's:
// SIGTERM, SIGINT and the fatal signals back to their default action (they end the child, as they
// would have without hookprof, instead of reaching the parent's watcher through the inherited
// pipe), the pipe closed. InstallTerminationWriter installs afresh after it. Async-signal-safe.
void ForgetTerminationWriterInChild();

// The process's start in CLOCK_BOOTTIME nanoseconds (from /proc/self/stat), so that a whole-run
// profile covers the run from its first instruction.
int64_t ProcessStartBoottimeNanos();

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_OUTPUTS_EXIT_OUTPUTS_H_
