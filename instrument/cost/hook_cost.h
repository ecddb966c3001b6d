// What one hooked call costs the program in the current mode: an enter and an exit hook, timed
// on a thread state of its own that no profile sees. The cost budget (runtime/budget) turns
// calls into hook time with it.
//
// Thread-safety: any thread but a recorded one's hooks (it swaps the calling thread's state for
// the measurement); not async-signal-safe.
#ifndef HOOKPROF_INSTRUMENT_COST_HOOK_COST_H_
#define HOOKPROF_INSTRUMENT_COST_HOOK_COST_H_

#include <stdint.h>

namespace hookprof {
namespace instrument {

// Nanoseconds of thread CPU time per hooked call (enter and exit) in the current mode, the
// least of a few rounds of `calls` calls each, through the hooks' shared bodies (the compiler
// hooks' own entry adds a few instructions). 0 when it cannot be measured here: mode `off` or
// `trace` (whose rings a measurement would fill), or no memory.
double MeasureHookNanos(uint32_t calls);

// What MeasureHookNanos finds in the current mode, measured the first time each mode asks and
// kept. Trace mode: timing mode's figure if there is one (most of trace's cost), else 0; off: 0.
double HookNanos();

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_COST_HOOK_COST_H_
