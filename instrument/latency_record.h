// Timing mode's record of a call that ended: private to the instrument library (hooks.cc calls
// it from the exit hooks, out of line: it touches the function's histogram, cold when a program
// has thousands of functions, and keeps the exit hook's fast path short).
#ifndef HOOKPROF_INSTRUMENT_LATENCY_RECORD_H_
#define HOOKPROF_INSTRUMENT_LATENCY_RECORD_H_

#include <stdint.h>

#include "instrument/thread_state.h"

namespace hookprof {
namespace instrument {

// Adds the call of frame `f`, ending at TSC `now`, to its function's latency histogram on thread
// `s` (set up on first use; counted in lost_latency when the thread has none left). A frame
// entered before timing began adds nothing. Owner thread, inside the hook's busy window.
__attribute__((visibility("hidden"))) void AddLatency(ThreadState* s, const Frame& f, uint64_t now);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_LATENCY_RECORD_H_
