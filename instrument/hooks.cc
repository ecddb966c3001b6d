// The compiler's function hooks: __cyg_profile_func_enter/exit (-finstrument-functions).
//
// Hot path, per call: one relaxed load of the control word, one TLS load, a few loads and
// stores on memory only this thread writes (timing and trace modes add a TSC read at each end). No
// locks, no allocation, no system calls; the first hook on a thread maps its state
// (RegisterCurrentThread), once.
//
// Each hook is split in two: the exported function handles the common case with as few
// registers as possible (so its prologue stays short and `off` costs one branch), and
// everything else (first call on a thread, guards, a new epoch, the depth cap, stale frames,
// inlined callees, a new call path) is tail-called into an out-of-line slow path.
#include "instrument/hooks.h"

#include <stddef.h>

#include "instrument/attributes.h"
#include "instrument/labels.h"
#include "instrument/patching/call_sites.h"
#include "instrument/records/timed_record.h"
#include "instrument/state/thread_state.h"
#include "instrument/state/tsc.h"

namespace hookprof {
namespace instrument {
namespace {

// Frames deeper than a new call by less than this are stale (skipped by an exception or
// longjmp). Farther ones belong to another stack (sigaltstack, coroutines) and are left alone.
constexpr uint32_t kStaleWindow = 1u << 20;

// Whether `top` is the caller of a new call of `fn` from `site` with stack pointer `sp`, rather
// than a frame that an exception or longjmp skipped: it is above the new call, or level with it
// and entered from the same call site, which is a function inlined into its caller (GCC runs both
// hooks from the caller's frame with the caller's return address). XRay runs no hooks for inlined
// code, so level there is a stale frame, rejected unless it was a call of another function from
// the same site (an indirect call). The enter hook's fast path takes both cases: most calls of
// template-heavy code under GCC are the level kind.
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE bool IsCaller(const Frame& top, uint32_t sp,
                                                            uintptr_t fn, uintptr_t site) {
  const uint32_t below = sp - top.sp;  // > 0: top is deeper than this call.
  if (HOOKPROF_LIKELY(below >= kStaleWindow)) return true;
  return below == 0 && site != 0 && top.call_site == site && top.fn != fn;
}

// The hook's own stack pointer, low 32 bits: a fixed distance below the instrumented caller's
// frame, so comparable between hooks (see Frame::sp). Read directly so that no frame pointer is
// forced on the hooks.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE uint32_t StackPointer32() {
  uintptr_t sp;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  return static_cast<uint32_t>(sp);
}

// Marks the thread's state busy for the scope (see kHookBusy). The signal fences keep the
// compiler from moving state updates out of the window; a handler runs on this same thread.
class BusyScope {
 public:
  HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES
      HOOKPROF_ALWAYS_INLINE explicit BusyScope(ThreadState* s)
      : s_(s) {
    s_->guard = kHookBusy;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
  }
  HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE ~BusyScope() {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    s_->guard = 0;
  }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  ThreadState* const s_;
};

// A hook that found the state busy: it interrupted another hook from a signal handler.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void NoteInterrupted(
    ThreadState* s, bool enter) {
  if ((s->guard & kHookBusy) != 0 && enter) {
    __atomic_store_n(&s->interrupted_calls, s->interrupted_calls + 1, __ATOMIC_RELAXED);
  }
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void EnterSlow(uintptr_t fn,
                                                                              uintptr_t site,
                                                                              uint32_t sp,
                                                                              uint64_t control) {
  ThreadState* s = t_state;
  if (s == nullptr) {
    s = RegisterCurrentThread();
    if (s == nullptr) return;
  }
  if (s->guard != 0) {
    NoteInterrupted(s, true);
    return;
  }
  BusyScope busy(s);
  const uint32_t epoch = EpochOf(control);
  if (s->epoch != epoch) {
    s->epoch = epoch;
    s->depth = 0;  // Frames from before `off` cannot be matched any more.
    s->label_frames = 0;
    // The label scopes still open are not: their pseudo-frames go back first (labels.h).
    if ((s->label_base | s->label_depth) != 0) RepushLabelFrames(s, control);
  }
  uint32_t d = s->depth;
  if (d >= kMaxDepth) {
    const Frame& cap = s->stack[kMaxDepth - 1];
    if (IsCaller(cap, sp, fn, site)) {
      // Deeper than the cap: counted, on the cap frame's summary node.
      s->depth = d + 1;
      __atomic_store_n(&s->truncated_frames, s->truncated_frames + 1, __ATOMIC_RELAXED);
      const uint32_t deep = FindOrInsertChild(s, cap.node, kDeepFn, 0);
      __atomic_store_n(&s->nodes[deep].calls, s->nodes[deep].calls + 1, __ATOMIC_RELAXED);
      return;
    }
    // An exception or longjmp left the untracked frames above the cap: they are gone, and the
    // tracked ones are resynchronised below as any skipped frames are.
    __atomic_store_n(&s->resyncs, s->resyncs + (d - kMaxDepth), __ATOMIC_RELAXED);
    d = kMaxDepth;
  }
  const bool tracing = ModeOf(control) == kModeTrace;
  const bool timed = IsTimed(control);
  // Pop the frames that are not callers of this call (see IsCaller).
  while (d > 0) {
    const Frame& top = s->stack[d - 1];
    if (IsCaller(top, sp, fn, site)) break;
    if (timed && !IsLabelFn(top.fn)) {  // Skipped by an exception or longjmp: ends now.
      const uint64_t now = ReadTsc();
      if (tracing) Emit(s, top.node, kEventExit, now);
      const uint64_t filter = __atomic_load_n(&g_slice_filter, __ATOMIC_RELAXED);
      if (filter != 0) MaybeSlice(s, top, now, d, filter);
    }
    if (IsLabelFn(top.fn)) --s->label_frames;
    --d;
    __atomic_store_n(&s->resyncs, s->resyncs + 1, __ATOMIC_RELAXED);
  }
  Node* nodes = s->nodes;
  const uint32_t parent = d != 0 ? s->stack[d - 1].node : kRootNode;
  uint32_t child = nodes[parent].hot_child;
  if (child == 0 || nodes[child].fn != fn) {
    child = FindOrInsertChild(s, parent, fn, site);
    nodes[parent].hot_child = child;
  } else if (nodes[child].call_site != site) {
    NoteSecondSite(&nodes[child]);
  }
  __atomic_store_n(&nodes[child].calls, nodes[child].calls + 1, __ATOMIC_RELAXED);
  Frame& f = s->stack[d];
  f.fn = fn;
  f.call_site = site;
  f.node = child;
  f.sp = sp;
  f.tsc = timed ? ReadTsc() : 0;
  // The SIGPROF handler on this thread reads stack[depth - 1]: the frame first, then depth.
  __atomic_signal_fence(__ATOMIC_RELEASE);
  s->depth = d + 1;
  if (tracing) Emit(s, child, 0, f.tsc);
}

// The frame `f` (at depth `d`, above the caller's) of a call whose path `child` (node `n`) the
// fast path found, and the new depth with the busy bit cleared.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void PushFrame(
    ThreadState* s, Frame* f, uint32_t d, uint32_t child, Node* n, uintptr_t fn, uintptr_t site,
    uint32_t sp, uint64_t control) {
  __atomic_store_n(&n->calls, n->calls + 1, __ATOMIC_RELAXED);
  f->fn = fn;
  f->call_site = site;
  f->node = child;
  f->sp = sp;
  if (HOOKPROF_UNLIKELY(IsTimed(control))) {  // Timed modes.
    StampAndPublish(s, f, d, child, control);
    return;
  }
  // The SIGPROF handler reads stack[depth - 1]: the frame first, then depth.
  __atomic_signal_fence(__ATOMIC_RELEASE);
  PublishDepthAndClearBusy(s, d + 1);
}

// The enter hook's fast path when the caller's hot child is another function (code that calls
// several functions in turn, as most library code does): the path table's first slot for
// (parent, fn) holds the path unless it collided. Else the slow path looks further or inserts.
// Measured on Boost's Dijkstra under GCC (callgrind): 9 in 10 enter hooks took the slow path
// before this and the inlined-callee case of IsCaller, 6 in 100 after. Out of line, so that the
// fast path saves no more registers (inlined, it pushed and popped 4 more per call). The nodes
// in slots 0 and 1 (root, overflow) match no function.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void EnterOtherChild(
    ThreadState* s, uint32_t d, uintptr_t fn, uintptr_t site, uint32_t sp, uint64_t control) {
  const uint32_t parent = StackOf(s)[d - 1].node;
  const uint32_t id = s->table[PathHash(parent, fn) & s->table_mask];
  Node* n = &s->nodes[id];
  if (HOOKPROF_LIKELY(n->fn == fn && n->parent == parent)) {
    s->nodes[parent].hot_child = id;
    if (n->call_site != site) NoteSecondSite(n);  // As FindOrInsertChild does.
    PushFrame(s, &StackOf(s)[d], d, id, n, fn, site, sp, control);
    return;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  s->guard = 0;
  EnterSlow(fn, site, sp, control);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void ExitSlow(uintptr_t fn,
                                                                             uint64_t control) {
  ThreadState* s = t_state;
  if (s == nullptr || s->guard != 0 || s->epoch != EpochOf(control)) return;
  BusyScope busy(s);
  const uint32_t d = s->depth;
  if (d > kMaxDepth) {
    s->depth = d - 1;
    return;
  }
  // Look for the frame below the top: frames above it were skipped (clang exceptions, longjmp).
  const bool tracing = ModeOf(control) == kModeTrace;
  for (uint32_t i = d; i > 0; --i) {
    if (s->stack[i - 1].fn == fn) {
      if (IsTimed(control)) {
        const uint64_t now = ReadTsc();
        AddWall(s, s->stack[i - 1], now, control);
        const uint64_t filter = __atomic_load_n(&g_slice_filter, __ATOMIC_RELAXED);
        for (uint32_t k = d; k >= i; --k) {             // The skipped frames end here too.
          if (IsLabelFn(s->stack[k - 1].fn)) continue;  // No function: not in traces.
          if (tracing) Emit(s, s->stack[k - 1].node, kEventExit, now);
          if (filter != 0) MaybeSlice(s, s->stack[k - 1], now, k, filter);
        }
      }
      for (uint32_t k = d; k > i; --k) s->label_frames -= IsLabelFn(s->stack[k - 1].fn) ? 1 : 0;
      __atomic_store_n(&s->resyncs, s->resyncs + (d - i), __ATOMIC_RELAXED);
      __atomic_signal_fence(__ATOMIC_RELEASE);
      s->depth = i - 1;
      return;
    }
  }
  __atomic_store_n(&s->unmatched_exits, s->unmatched_exits + 1, __ATOMIC_RELAXED);
}

}  // namespace

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE uint32_t
FindOrInsertChild(ThreadState* s, uint32_t parent, uintptr_t fn, uintptr_t site) {
  uint32_t mask = s->table_mask;
  uint32_t i = PathHash(parent, fn) & mask;
  for (;;) {
    const uint32_t id = s->table[i];
    if (id == 0) break;
    Node& n = s->nodes[id];
    if (n.fn == fn && n.parent == parent) {
      if (n.call_site != site) NoteSecondSite(&n);
      return id;
    }
    i = (i + 1) & mask;
  }
  const uint32_t id = s->node_count;
  if (HOOKPROF_UNLIKELY(id >= kMaxNodes)) {
    __atomic_store_n(&s->dropped_paths, s->dropped_paths + 1, __ATOMIC_RELAXED);
    return kOverflowNode;
  }
  Node& n = s->nodes[id];
  n.fn = fn;
  n.call_site = site;
  n.parent = parent;
  n.sites = 1;
  n.hot_child = 0;
  s->table[i] = id;
  s->node_count = id + 1;
  // Release: readers that see the new count see the node's fn and parent.
  __atomic_store_n(&s->published_nodes, id + 1, __ATOMIC_RELEASE);
  if (HOOKPROF_UNLIKELY((id + 1) * 2 > mask + 1)) GrowTable(s);
  return id;
}

}  // namespace instrument
}  // namespace hookprof

extern "C" void __cyg_profile_func_enter(void* this_fn, void* call_site);
extern "C" void __cyg_profile_func_exit(void* this_fn, void* call_site);

namespace hi = hookprof::instrument;

namespace {

// The call at a site to remove must lead to the hook that asks (call_sites.h).
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uintptr_t HookAddress(hi::SiteKind kind) {
  return kind == hi::SiteKind::kEnter ? reinterpret_cast<uintptr_t>(&__cyg_profile_func_enter)
                                      : reinterpret_cast<uintptr_t>(&__cyg_profile_func_exit);
}

// The hooks' bodies, shared by the compiler's hooks and the XRay handler (xray.cc).
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void EnterHook(
    void* this_fn, void* call_site) {
  if (HOOKPROF_UNLIKELY(hi::RecordingOff())) return;
  // Relaxed: the control word publishes nothing but itself (see LoadControl).
  const uint64_t control = hi::LoadControl();
  const uintptr_t fn = reinterpret_cast<uintptr_t>(this_fn);
  const uintptr_t site = reinterpret_cast<uintptr_t>(call_site);
  const uint32_t sp = hi::StackPointer32();
  hi::ThreadState* s = hi::t_state;
  // Fast path: a recorded thread, no guard, current epoch, 0 < depth < cap, the top frame the
  // caller (IsCaller), and the path already known through the caller's hot child.
  if (HOOKPROF_LIKELY(s != nullptr) &&
      HOOKPROF_LIKELY((s->guard | (s->epoch ^ hi::EpochOf(control))) == 0)) {
    // Busy until the frame is pushed (see kHookBusy). Only stores need to stay after this one:
    // a handler that runs before it leaves the state as it found it.
    s->guard = hi::kHookBusy;
    __atomic_signal_fence(__ATOMIC_RELEASE);
    const uint32_t d = s->depth;
    if (HOOKPROF_LIKELY(d - 1 < hi::kMaxDepth - 1)) {
      hi::Frame* top = &hi::StackOf(s)[d - 1];
      if (HOOKPROF_LIKELY(hi::IsCaller(*top, sp, fn, site))) {
        hi::Node* nodes = hi::NodesOf(s);
        const uint32_t child = nodes[top->node].hot_child;
        hi::Node* n = &nodes[child];
        if (HOOKPROF_LIKELY(n->fn == fn)) {
          hi::PushFrame(s, top + 1, d, child, n, fn, site, sp, control);
          return;
        }
        hi::EnterOtherChild(s, d, fn, site, sp, control);  // A tail call: no registers saved.
        return;
      }
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    s->guard = 0;
  }
  hi::EnterSlow(fn, site, sp, control);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void ExitHook(void* this_fn) {
  if (HOOKPROF_UNLIKELY(hi::RecordingOff())) return;
  const uint64_t control = hi::LoadControl();
  const uintptr_t fn = reinterpret_cast<uintptr_t>(this_fn);
  hi::ThreadState* s = hi::t_state;
  if (HOOKPROF_LIKELY(s != nullptr) &&
      HOOKPROF_LIKELY((s->guard | (s->epoch ^ hi::EpochOf(control))) == 0)) {
    const uint32_t d = s->depth;
    if (HOOKPROF_LIKELY(d - 1 < hi::kMaxDepth) && HOOKPROF_LIKELY(hi::StackOf(s)[d - 1].fn == fn)) {
      if (HOOKPROF_UNLIKELY(hi::IsTimed(control))) {  // Timed modes.
        hi::ExitTimed(s, d, control);                 // A tail call: no registers saved.
        return;
      }
      // A handler's hooks arriving before this store push and pop above the top: harmless.
      s->depth = d - 1;
      return;
    }
  }
  hi::ExitSlow(fn, control);
}

// The compiler hooks' bodies, reached by tail calls: the stack is as the exported hook found it.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void CompilerEnter(void* this_fn,
                                                                                  void* call_site) {
  EnterHook(this_fn, call_site);
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void CompilerExit(void* this_fn) {
  ExitHook(this_fn);
}

// The hooks of a function that may be switched off by the user (call_sites.h): if it is, its
// call site goes and the call is not recorded. A frame entered before the switch still ends at
// its exit; an exit with no frame of its own is skipped.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void EnterMaybeUnhooked(
    void* this_fn, void* call_site, uintptr_t return_address) {
  const uintptr_t fn = reinterpret_cast<uintptr_t>(this_fn);
  if (hi::FunctionUnhooked(fn)) {
    hi::RemoveSite(fn, return_address, hi::SiteKind::kEnter, HookAddress(hi::SiteKind::kEnter));
    return;
  }
  CompilerEnter(this_fn, call_site);
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void ExitMaybeUnhooked(
    void* this_fn, uintptr_t return_address) {
  const uintptr_t fn = reinterpret_cast<uintptr_t>(this_fn);
  if (hi::FunctionUnhooked(fn)) {
    hi::RemoveSite(fn, return_address, hi::SiteKind::kExit, HookAddress(hi::SiteKind::kExit));
    const hi::ThreadState* s = hi::t_state;
    const uint32_t d = s != nullptr ? s->depth : 0;
    if (!(d - 1 < hi::kMaxDepth && s->stack[d - 1].fn == fn)) return;
  }
  CompilerExit(this_fn);
}

}  // namespace

extern "C" {

// Each hook's return address is its call site, which `off` and a switched-off function remove
// (call_sites.h). Every path is a tail call (the stack pointer the bodies read is the hook's), and
// the return address is read here, not in the bodies: there it kept GCC from shrink-wrapping,
// and every call pushed two registers.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void __cyg_profile_func_enter(void* this_fn,
                                                                           void* call_site) {
  const uintptr_t return_address = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  const uintptr_t fn = reinterpret_cast<uintptr_t>(this_fn);
  if (HOOKPROF_UNLIKELY(hi::RecordingOff())) {
    // This site costs nothing from its next call on.
    hi::RemoveSite(fn, return_address, hi::SiteKind::kEnter, HookAddress(hi::SiteKind::kEnter));
    return;
  }
  if (HOOKPROF_UNLIKELY(hi::MaybeUnhooked(fn))) {
    EnterMaybeUnhooked(this_fn, call_site, return_address);
    return;
  }
  CompilerEnter(this_fn, call_site);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void __cyg_profile_func_exit(void* this_fn,
                                                                          void* call_site) {
  const uintptr_t return_address = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  const uintptr_t fn = reinterpret_cast<uintptr_t>(this_fn);
  if (HOOKPROF_UNLIKELY(hi::RecordingOff())) {
    hi::RemoveSite(fn, return_address, hi::SiteKind::kExit, HookAddress(hi::SiteKind::kExit));
    return;
  }
  if (HOOKPROF_UNLIKELY(hi::MaybeUnhooked(fn))) {
    ExitMaybeUnhooked(this_fn, return_address);
    return;
  }
  CompilerExit(this_fn);
}

}  // extern "C"

namespace hookprof {
namespace instrument {

HOOKPROF_NO_INSTRUMENT uintptr_t CompilerHookAddress(SiteKind kind) { return HookAddress(kind); }

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void XRayEnter(void* fn, void* call_site) {
  EnterHook(fn, call_site);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void XRayExit(void* fn) { ExitHook(fn); }

}  // namespace instrument
}  // namespace hookprof
