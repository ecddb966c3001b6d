// Reading the program's code from the hooks' slow paths and the control plane: where a call
// instruction leads (call_sites.h rewrites what this finds), through SafeRead (stacks/safe_read.h).
//
// Thread-safety: any thread; async-signal-safe (system calls and reads only).
#ifndef HOOKPROF_INSTRUMENT_PATCHING_CODE_BYTES_H_
#define HOOKPROF_INSTRUMENT_PATCHING_CODE_BYTES_H_

#include <stddef.h>
#include <stdint.h>

namespace hookprof {
namespace instrument {

// How a call to `target` reaches `hook`.
enum class CallForm : uint8_t { kNone = 0, kDirect = 1, kThroughPlt = 2, kThroughGot = 3 };
// Directly, or through a PLT entry (with or without IBT's endbr64 and MPX's bnd prefix) whose
// GOT slot holds it; kNone if it does not.
CallForm LeadsTo(uintptr_t target, uintptr_t hook);

// Whether the code of the function at `fn` (`size` bytes, at most the first 128 looked at) calls
// the enter hook at `enter_hook`: an instrumented function, met or not. Mapped code only.
bool CallsEnterHook(uintptr_t fn, size_t size, uintptr_t enter_hook);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_PATCHING_CODE_BYTES_H_
