// The mode switch: the control word first (instrument/state), then what the code must look like
// in the new mode (the hook calls `off` took out put back; XRay's sleds patched or not).
#ifndef HOOKPROF_INSTRUMENT_MODE_H_
#define HOOKPROF_INSTRUMENT_MODE_H_

#include "instrument/state/thread_state.h"

namespace hookprof {
namespace instrument {

// SetMode(kModeOff) stops recording at the next hook on every thread; turning it back on starts
// a new epoch so that stacks left half-built while off are discarded.
void SetMode(Mode mode);
// Called after every SetMode, with the new mode (the XRay backend patches or unpatches its
// sleds there). One callback.
void SetModeChangedCallback(void (*callback)(Mode));

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_MODE_H_
