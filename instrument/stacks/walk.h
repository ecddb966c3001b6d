// Stack walks from a frame's registers: by the modules' frame rules (frame_rules.h), by the frame
// pointer where there is none. They know nothing of hooks or threads' trees: unwind.h grafts what
// they find into the calling-context tree.
//
// Thread-safety: any thread, async-signal-safe, except NoteCurrentThreadStack.
#ifndef HOOKPROF_INSTRUMENT_STACKS_WALK_H_
#define HOOKPROF_INSTRUMENT_STACKS_WALK_H_

#include <stdint.h>

namespace hookprof {
namespace instrument {

// Return addresses a walk records above the interrupted PC (or the call site): deeper callers
// are left out and the stack is shown as cut there.
inline constexpr int kMaxWalkFrames = 64;

// Walks a stack from a frame's %rip, %rsp and %rbp by the frame rules (frame_rules.h), by the
// frame pointer where there is no rule: the return addresses of the frame's callers, innermost
// first, into out[0, max); returns how many. `interrupted`: `pc` is where the thread was stopped
// (else a return address, whose call is at pc - 1). Stops at the outermost frame (a rule says
// nothing called it), or where a step would leave the stack: a CFA not above %rsp, a frame over
// 256 KiB, an unmapped word (each page is proven mapped by a system call before it is read).
// Async-signal-safe; errno unchanged.
int WalkFrames(uintptr_t pc, uintptr_t sp, uintptr_t fp, bool interrupted, uintptr_t* out, int max);

// Notes where the current thread's stack lies, so that its walks read it without a system call
// per page. Each program thread as it starts (thread_create.cc), the main thread as the library
// loads. Not for signal handlers (pthread_getattr_np allocates, and reads /proc/self/maps for
// the main thread).
void NoteCurrentThreadStack();

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STACKS_WALK_H_
