// What the hooks (hooks.cc) give the other ways in: the bodies of the compiler's enter and exit
// hooks, for the XRay handler (instrument/xray) and the cost measurement (instrument/cost), and the
// hooks' own addresses.
#ifndef HOOKPROF_INSTRUMENT_HOOKS_H_
#define HOOKPROF_INSTRUMENT_HOOKS_H_

#include <stdint.h>

#include "instrument/patching/call_sites.h"

namespace hookprof {
namespace instrument {

// The entry address of __cyg_profile_func_enter or _exit. Only hooks.cc names them, so that
// tests/no_self_instrumentation.sh can tell a hook call in any other object of hookprof.
uintptr_t CompilerHookAddress(SiteKind kind);

// Hidden: not a second pair of exported hooks.
void XRayEnter(void* fn, void* call_site) __attribute__((visibility("hidden")));
void XRayExit(void* fn) __attribute__((visibility("hidden")));

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_HOOKS_H_
