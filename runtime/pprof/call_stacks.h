// The locations of a recorded call path, as pprof shows a stack: each caller at the line of its
// call (the call site the hooks received, looked up as Go looks up return addresses), and the
// leaf at the instruction that ran when one is known (a CPU sample's interrupted PC, an
// allocation's or lock's return address).
//
//   node path (leaf first):  Work  <- Loop  <- main
//   call sites:              Work.call_site is in Loop, Loop.call_site is in main
//   stack:                   [leaf PC in Work (or in libc's write, then Work's entry)]
//                            [Loop at Work.call_site - 1] [main at Loop.call_site - 1]
//
// GCC (and clang without -after-inlining) run the hooks of an inlined function from its caller's
// frame, with the caller's return address; such a node gets its caller's call site, so its
// caller is shown at its entry, and a leaf PC whose DWARF inline chain already holds them stands
// for both. A call site outside the caller's function (an uninstrumented function such
// as qsort between the two) is shown as its own frame.
//
// Frames found by walking frame pointers (instrument/unwind.h) are shown at the line of their
// call; a walk that stopped before the thread's start ends in kStackCutFrame.
//
// Thread-safety: as ProfileBuilder (one thread per builder); the thread's nodes may be read while
// it runs (see instrument/state/thread_state.h).
#ifndef HOOKPROF_RUNTIME_PPROF_CALL_STACKS_H_
#define HOOKPROF_RUNTIME_PPROF_CALL_STACKS_H_

#include <stdint.h>

#include <vector>

#include "instrument/state/thread_state.h"
#include "runtime/pprof/profile_builder.h"

namespace hookprof {
namespace runtime {

enum class Leaf {
  kNone,           // The stack ends at the node's function (its entry line).
  kInterrupted,    // `leaf` is the instruction a signal interrupted.
  kReturnAddress,  // `leaf` is a return address into the node's function (looked up at - 1).
};

// Location ids of the stack of `node` on thread `s` (leaf first) into `out`. `top_site` is the
// call site of the node's own call when the recorder saw it (a CPU sample), else 0. A caller is
// shown at its function's entry line when the line of its call is not known for this stack (the
// node was called from more than one call site: instrument::Node::sites). The overflow node
// becomes kDroppedPathsFrame; an empty path (the thread root), kThreadRootFrame, unless there is
// a leaf.
void NodeStack(const instrument::ThreadState* s, uint32_t node, uintptr_t leaf, Leaf kind,
               uintptr_t top_site, ProfileBuilder* b, std::vector<uint64_t>* out);

// Sample labels for label set `set` (instrument/labels.h): one string label per pair; none for 0.
void AddSetLabels(uint32_t set, ProfileBuilder* b, pprof::Sample* sample);
// The same for the set of `node` on thread `s` (runtime/core/snapshot.h's LabelSetOfNode).
void AddNodeLabels(const instrument::ThreadState* s, uint32_t node, ProfileBuilder* b,
                   pprof::Sample* sample);

// A sample that interrupted the instrumentation hooks themselves (their cost, under the function
// that called them).
inline constexpr char kHooksFrame[] = "[hookprof: instrumentation hooks]";
inline constexpr char kThreadRootFrame[] = "[thread root: no instrumented frame]";
// Above the outermost frame of a stack walk that stopped before the thread's start (a frame
// without a frame pointer, or instrument::kMaxWalkFrames reached): its callers are unknown.
inline constexpr char kStackCutFrame[] = "[stack cut: callers not walked]";

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PPROF_CALL_STACKS_H_
