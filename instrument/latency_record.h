// Timing mode's record of a call that ended: private to the instrument library (hooks.cc calls
// it from the exit hooks, out of line: it touches the function's histogram, cold when a program
// has thousands of functions, and keeps the exit hook's fast path short).
#ifndef HOOKPROF_INSTRUMENT_LATENCY_RECORD_H_
#define HOOKPROF_INSTRUMENT_LATENCY_RECORD_H_

#include <stdint.h>

#include "instrument/thread_state.h"

namespace hookprof {
namespace instrument {

// Adds a timed call of `ticks` that ended on path `n` to its function's latency histogram on
// thread `s` (set up on first use; counted in lost_latency when the thread has none left). Owner
// thread, inside the hook's busy window; the caller has checked the call was timed throughout.
__attribute__((visibility("hidden"))) void AddLatency(ThreadState* s, Node& n, uint64_t ticks);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_LATENCY_RECORD_H_
