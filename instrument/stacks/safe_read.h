// Reading memory that may not be mapped, without a fault: the stack walks (a frame pointer that
// is data) and the code readers (a call's target computed from bytes that may not be a call).
//
// Thread-safety: any thread; async-signal-safe (a system call and reads only).
#ifndef HOOKPROF_INSTRUMENT_STACKS_SAFE_READ_H_
#define HOOKPROF_INSTRUMENT_STACKS_SAFE_READ_H_

#include <stddef.h>
#include <stdint.h>

namespace hookprof {
namespace instrument {

// Reads `n` bytes at `address`: false instead of a fault where they are not mapped. errno may
// change.
bool SafeRead(uintptr_t address, void* out, size_t n);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STACKS_SAFE_READ_H_
