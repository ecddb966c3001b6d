// The XRay backend's state (see xray.cc): whether the program has XRay sleds and whether they are
// patched now.
#ifndef HOOKPROF_INSTRUMENT_XRAY_H_
#define HOOKPROF_INSTRUMENT_XRAY_H_

#include <stddef.h>

namespace hookprof {
namespace instrument {

// Functions with XRay sleds (0: the program was not built with -fxray-instrument).
size_t XRayFunctions();
// Whether the sleds are patched (every mode but `off`).
bool XRaySledsPatched();
// How many of XRay's three trampolines (entry, exit, tail) lead to hookprof's own (see xray.cc);
// the others go through compiler-rt's.
int XRayOwnTrampolines();

// The bodies of the compiler's enter and exit hooks (hooks.cc), for the XRay handler. Hidden:
// not a second pair of exported hooks.
void XRayEnter(void* fn, void* call_site) __attribute__((visibility("hidden")));
void XRayExit(void* fn) __attribute__((visibility("hidden")));

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_XRAY_H_
