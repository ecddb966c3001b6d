// The TSC: the clock the hooks stamp timed calls with (rdtsc: no system call, about 20 cycles),
// and the one place that converts its ticks to nanoseconds.
//
// Ticks become nanoseconds along a line through two readings of both the TSC and
// CLOCK_MONOTONIC (TscLine). A window uses the readings at its two ends; when they are too close
// to give a rate (under 1 ms apart), or for a duration with no window, the rate is the one
// measured once per process (NanosPerTick: 20 ms of CLOCK_MONOTONIC, the first caller waits).
//
// An invariant TSC is assumed (CPUID 0x80000007, EDX bit 8: constant rate, ticking in every
// power state, in step across cores), as on every x86-64 server CPU of the last decade. Without
// it (TscInvariant() false: old CPUs, some hypervisors that hide the bit) the rate can change
// with the CPU's frequency, so wall times, latencies and trace timestamps of the timed modes may
// be off; call counts and sampled CPU time do not use the TSC. hookprof says so at start.
//
// Thread-safety: any thread. ReadTsc is async-signal-safe; the others are not (the first call
// of NanosPerTick sleeps).
#ifndef HOOKPROF_INSTRUMENT_STATE_TSC_H_
#define HOOKPROF_INSTRUMENT_STATE_TSC_H_

#include <stdint.h>

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {

HOOKPROF_NO_INSTRUMENT inline uint64_t ReadTsc() { return __builtin_ia32_rdtsc(); }

// Whether the CPU reports an invariant TSC.
bool TscInvariant();

// Nanoseconds per tick, measured once per process.
double NanosPerTick();

// Both clocks read together.
struct TscPair {
  uint64_t tsc = 0;
  int64_t mono_ns = 0;
  static TscPair Now();
};

// Converts TSC values to CLOCK_MONOTONIC nanoseconds and back along one line.
class TscLine {
 public:
  // Through `a` and `b` (a first); NanosPerTick's rate, anchored at `b`, if they are under 1 ms
  // apart or out of order.
  TscLine(TscPair a, TscPair b);
  // NanosPerTick's rate, anchored at `anchor`.
  explicit TscLine(TscPair anchor);

  double ns_per_tick() const { return ns_per_tick_; }
  int64_t Nanos(uint64_t ticks) const { return static_cast<int64_t>(double(ticks) * ns_per_tick_); }
  uint64_t Ticks(int64_t nanos) const;
  int64_t ToMono(uint64_t tsc) const;
  uint64_t ToTsc(int64_t mono_ns) const;

 private:
  TscPair anchor_;
  double ns_per_tick_;
};

// A duration in ticks as nanoseconds and back, at NanosPerTick's rate.
inline int64_t TicksToNanos(uint64_t ticks) { return TscLine(TscPair{}).Nanos(ticks); }
inline uint64_t NanosToTicks(int64_t nanos) { return TscLine(TscPair{}).Ticks(nanos); }

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STATE_TSC_H_
