#include "instrument/unwind.h"

#include <ucontext.h>

#include "instrument/labels.h"
#include "instrument/stacks/walk.h"

namespace hookprof {
namespace instrument {
namespace {

// Room for the interposers' frames before the program's, in walks from CallerNode.
constexpr int kOwnFrames = 8;
constexpr int kWalkSlots = kMaxWalkFrames + kOwnFrames;

// The shadow stack's top node when it is current (a recording mode, this epoch), else the root.
HOOKPROF_NO_INSTRUMENT const Frame* CurrentTop(ThreadState* s) {
  const uint64_t control = LoadControl();
  uint32_t d = s->depth;
  if (d > kMaxDepth) d = kMaxDepth;
  __atomic_signal_fence(__ATOMIC_ACQUIRE);  // Frames are written before depth (see hooks.cc).
  if (ModeOf(control) == kModeOff || s->epoch != EpochOf(control) || d == 0) return nullptr;
  return &s->stack[d - 1];
}

// A walk that found nothing to graft: the event goes to what the hooks know.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t CutWalk(ThreadState* s) {
  __atomic_store_n(&s->cut_walks, s->cut_walks + 1, __ATOMIC_RELAXED);
  const Frame* top = CurrentTop(s);
  return top != nullptr ? top->node : LabelRootNode(s);
}

// Grafts the walked return addresses `returns[0, n)` (innermost first) into the tree and
// returns the innermost one's node. Under the shadow stack's top frame when the shadow stack is
// current (a recording mode, this epoch): the walk up to the return address that frame was
// called from is what lies between it and the interrupted function. A label scope's
// pseudo-frame on top is not called from anywhere: the cut is at the hooked frame below it (the
// whole walk without one), and the graft under the pseudo-frame. Else under the root, or the
// thread's label root node (labels.h).
// `site`, if not 0, is the event's own call site: grafted too, as the innermost frame, when its
// function is a walked one (not the hooked top frame).
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t Graft(ThreadState* s,
                                                            const uintptr_t* returns, int n,
                                                            uintptr_t site) {
  if (n > kMaxWalkFrames) n = kMaxWalkFrames;
  // A return address in the first page is a frame pointer that pointed at something else: the
  // walk ends before it (and is shown as cut).
  for (int i = 0; i < n; ++i) {
    if (returns[i] < 4096) n = i;
  }
  uint32_t node = kRootNode;
  int keep = n;
  if (const Frame* top_frame = CurrentTop(s)) {
    const Frame* hooked = top_frame;
    while (IsLabelFn(hooked->fn) && hooked != s->stack) --hooked;
    if (!IsLabelFn(hooked->fn)) {
      keep = -1;
      // returns[i] is where the top hooked frame returns to: returns[i - 1] is in that frame's
      // function, and returns[0, i - 1) in the functions it called without hooks.
      for (int i = 0; i < n; ++i) {
        if (returns[i] == hooked->call_site) {
          keep = i > 0 ? i - 1 : 0;
          if (i == 0) site = 0;  // The event happened in the hooked function itself.
          break;
        }
      }
      if (keep < 0) return CutWalk(s);  // It ended before the hooked frame: the exact part.
    }
    node = top_frame->node;
  } else {
    node = LabelRootNode(s);
  }
  for (int i = keep - 1; i >= 0 && node != kOverflowNode; --i) {
    node = FindOrInsertChild(s, node, returns[i] | kUnwoundBit, 0);
  }
  if (site != 0 && node != kOverflowNode) node = FindOrInsertChild(s, node, site | kUnwoundBit, 0);
  return node;
}

}  // namespace

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t SampledNode(ThreadState* s,
                                                                  const void* ucontext) {
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  uintptr_t returns[kMaxWalkFrames];
  const int n = WalkFrames(static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]),
                           static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]),
                           static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RBP]), true, returns,
                           kMaxWalkFrames);
  return Graft(s, returns, n, 0);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t CallerNode(ThreadState* s,
                                                                 uintptr_t call_site,
                                                                 bool with_site) {
  HOOKPROF_KEEP_FRAME_POINTER();  // The walk starts from this frame's own frame pointer.
  if (call_site == 0) {  // No place to start from (abseil's tracers): the hooks' part alone.
    const Frame* top = CurrentTop(s);
    return top != nullptr ? top->node : kRootNode;
  }
  uintptr_t frames[kWalkSlots];
  const auto* fp = static_cast<const uintptr_t*>(__builtin_frame_address(0));
  frames[0] = fp[1];
  const int n = 1 + WalkFrames(fp[1], reinterpret_cast<uintptr_t>(fp + 2), fp[0], false, frames + 1,
                               kWalkSlots - 1);
  int first = 0;
  while (first < n && frames[first] != call_site) ++first;
  if (first == n) return CutWalk(s);
  ++first;
  return Graft(s, frames + first, n - first, with_site ? call_site : 0);
}

}  // namespace instrument
}  // namespace hookprof
