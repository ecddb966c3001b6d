// The XRay backend's state (see xray.cc): whether the program has XRay sleds and whether they are
// patched now.
#ifndef HOOKPROF_INSTRUMENT_XRAY_XRAY_H_
#define HOOKPROF_INSTRUMENT_XRAY_XRAY_H_

#include <stddef.h>
#include <stdint.h>

namespace hookprof {
namespace instrument {

// Functions with XRay sleds (0: the program was not built with -fxray-instrument).
size_t XRayFunctions();
// Whether the sleds are patched (every mode but `off`).
bool XRaySledsPatched();
// Function ids run from 1 to XRayFunctions(); the entry address of one (0 for a bad id).
uintptr_t XRayFunctionAddress(size_t id);

// Per-function switching: whether compiler-rt can patch one function's sleds (it can from
// clang 14's runtime on), and whether a function is hooked. A function switched off keeps its
// sleds as nops whatever the mode; one switched on again is recorded from its next call (in
// every mode but `off`). False for a bad id or a patch compiler-rt refused.
bool XRayCanSwitchFunctions();
bool XRayFunctionHooked(size_t id);
bool SetXRayFunctionHooked(size_t id, bool hooked);
// How many of XRay's three trampolines (entry, exit, tail) lead to hookprof's own (see xray.cc);
// the others go through compiler-rt's.
int XRayOwnTrampolines();

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_XRAY_XRAY_H_
