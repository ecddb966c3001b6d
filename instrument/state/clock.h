// The clocks hookprof reads, as nanoseconds, in one place.
//
// Async-signal-safe (clock_gettime is) and never instrumented: the interposed lock and
// condition-variable paths call them from inside user code.
#ifndef HOOKPROF_INSTRUMENT_STATE_CLOCK_H_
#define HOOKPROF_INSTRUMENT_STATE_CLOCK_H_

#include <stdint.h>
#include <time.h>

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {

HOOKPROF_NO_INSTRUMENT inline int64_t ClockNanos(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Durations and trace timestamps (Perfetto's default clock).
HOOKPROF_NO_INSTRUMENT inline int64_t MonotonicNanos() { return ClockNanos(CLOCK_MONOTONIC); }
// Profile time stamps (profile.proto's time_nanos is wall time).
HOOKPROF_NO_INSTRUMENT inline int64_t RealtimeNanos() { return ClockNanos(CLOCK_REALTIME); }
// Since boot, suspend included: the origin of /proc/self/stat's starttime.
HOOKPROF_NO_INSTRUMENT inline int64_t BoottimeNanos() { return ClockNanos(CLOCK_BOOTTIME); }

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STATE_CLOCK_H_
