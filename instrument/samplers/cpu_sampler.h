// CPU-time sampling of the shadow stacks.
//
// Each recorded thread gets a POSIX timer on its own CPU-time clock that sends it SIGPROF
// every 1/hz seconds of CPU it consumes (not wall time). The handler charges one sample to the
// calling-context node on top of that thread's shadow stack: no unwinding, no locks, no
// allocation — it only touches the interrupted thread's own state.
//
// Thread-safety: Start/Stop may be called from any thread, not concurrently with each other.
#ifndef HOOKPROF_INSTRUMENT_SAMPLERS_CPU_SAMPLER_H_
#define HOOKPROF_INSTRUMENT_SAMPLERS_CPU_SAMPLER_H_

#include <stdint.h>

namespace hookprof {
namespace instrument {

// Installs the SIGPROF handler and arms a timer on every recorded thread, present and future.
// Returns 0, or an errno value if the handler could not be installed.
int StartCpuSampling(int hz);

// Disarms and deletes every timer; the handler stays installed (a late signal is harmless).
void StopCpuSampling();

// Nanoseconds of CPU time one sample stands for; 0 while sampling is off.
uint64_t CpuSamplingPeriodNanos();

// Samples that arrived on a thread with nothing recorded (hookprof's own threads, or threads
// that never ran instrumented code): counted so that a profile can say what it did not show.
uint64_t UnattributedSamples();

// Timers that could not be created (thread gone, or the kernel's timer limit reached).
uint64_t TimerFailures();

// SIGPROF is shared with the program. Only hookprof's own timers' signals are samples (they
// carry their thread's state); the others (the program's ITIMER_PROF, its own timers) are
// counted here and passed on to the handler the program had installed before hookprof's, if
// any. A handler the program installs after hookprof's replaces it: sampling stops, and
// profiles say so (SigprofHandlerIsOurs).
uint64_t ForeignSigprofSignals();
bool ChainsProgramSigprofHandler();
bool SigprofHandlerIsOurs();

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_SAMPLERS_CPU_SAMPLER_H_
