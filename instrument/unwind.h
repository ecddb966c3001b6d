// Call stacks without hooks: stack walks (stacks/walk.h: by the modules' frame rules, and frame
// pointers where there are none) grafted into the thread's calling-context tree, so samples
// taken where no hook ran (mode `off`, code or threads built without hooks) still have their
// callers.
//
//   shadow stack (exact):   main -> Serve -> Parse            (hooked frames, counted calls)
//   walk (sampled):                         Parse <- qsort <- msort <- [interrupted PC]
//   tree after the sample:  main -> Serve -> Parse -> ret@msort
//                           (a walked frame is a node keyed by its return address, kUnwoundBit
//                           set; it counts samples, never calls)
//
// The walk stops where the shadow stack takes over: at the return address the top hooked frame
// was called from (Frame::call_site). With no shadow stack to use, the whole walk hangs under
// the thread's root. A walk stops early where neither a rule nor a frame pointer leads on (code
// without call frame information or frame pointers, garbage in %rbp) or after kMaxWalkFrames;
// the profile then shows the stack as cut (see
// runtime/pprof/call_stacks.h), and walks that could not reach the shadow stack are counted.
#ifndef HOOKPROF_INSTRUMENT_UNWIND_H_
#define HOOKPROF_INSTRUMENT_UNWIND_H_

#include <stdint.h>

#include "instrument/attributes.h"
#include "instrument/stacks/walk.h"
#include "instrument/state/thread_state.h"

namespace hookprof {
namespace instrument {

// The function word of a walked frame's node: its return address with the top bit set, which no
// function entry has (user-space addresses are below 2^47).
inline constexpr uintptr_t kUnwoundBit = uintptr_t{1} << 63;
HOOKPROF_NO_INSTRUMENT inline bool IsUnwound(uintptr_t fn) { return (fn & kUnwoundBit) != 0; }
HOOKPROF_NO_INSTRUMENT inline uintptr_t UnwoundReturn(uintptr_t fn) { return fn & ~kUnwoundBit; }

// The node a CPU sample charges (its interrupted PC goes under it): the shadow stack's top, with
// the walked frames between it and the interrupted function grafted below. The walk starts from
// the interrupted registers in `ucontext`. SIGPROF handler only, with the thread's guard clear
// (no hook is updating the tree); async-signal-safe.
uint32_t SampledNode(ThreadState* s, const void* ucontext);

// The same for an event at `call_site` (the return address of an intercepted call: malloc, a
// lock, pthread_create) on the calling thread, outside signal handlers. The walk starts at the
// call site's caller; `with_site`: the call site is a frame of the node too (else the event's
// record keeps it as its leaf). Returns the top hooked node when nothing can be walked.
uint32_t CallerNode(ThreadState* s, uintptr_t call_site, bool with_site);

// CallerNode with the thread's state marked busy meanwhile (kHookBusy), so that neither the
// SIGPROF handler nor a hook in another signal's handler changes the tree during the graft.
// The thread's guard must be clear.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES inline uint32_t GraftedCallerNode(ThreadState* s,
                                                                               uintptr_t call_site,
                                                                               bool with_site) {
  s->guard = kHookBusy;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  const uint32_t node = CallerNode(s, call_site, with_site);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  s->guard = 0;
  return node;
}

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_UNWIND_H_
