// The compiler's function hooks: __cyg_profile_func_enter/exit (-finstrument-functions).
//
// Hot path, per call: one relaxed load of the control word, one TLS load, a few loads and
// stores on memory only this thread writes. No locks, no allocation, no system calls; the
// first hook on a thread maps its state (RegisterCurrentThread), once.
#include "instrument/attributes.h"
#include "instrument/thread_state.h"

namespace hookprof {
namespace instrument {
namespace {

// Frames deeper than a new call by less than this are stale (skipped by an exception or
// longjmp). Farther ones belong to another stack (sigaltstack, coroutines) and are left alone.
constexpr uint32_t kStaleWindow = 1u << 20;

HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint32_t StackPointer32() {
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)));
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_NOINLINE uint32_t FindOrInsertChild(ThreadState* s,
                                                                     uint32_t parent,
                                                                     uintptr_t fn) {
  uint32_t mask = s->table_mask;
  uint32_t i = PathHash(parent, fn) & mask;
  for (;;) {
    const uint32_t id = s->table[i];
    if (id == 0) break;
    const Node& n = s->nodes[id];
    if (n.fn == fn && n.parent == parent) return id;
    i = (i + 1) & mask;
  }
  const uint32_t id = s->node_count;
  if (HOOKPROF_UNLIKELY(id >= kMaxNodes)) {
    __atomic_store_n(&s->dropped_paths, s->dropped_paths + 1, __ATOMIC_RELAXED);
    return kOverflowNode;
  }
  Node& n = s->nodes[id];
  n.fn = fn;
  n.parent = parent;
  n.hot_child = 0;
  s->table[i] = id;
  s->node_count = id + 1;
  // Release: readers that see the new count see the node's fn and parent.
  __atomic_store_n(&s->published_nodes, id + 1, __ATOMIC_RELEASE);
  if (HOOKPROF_UNLIKELY((id + 1) * 2 > mask + 1)) GrowTable(s);
  return id;
}

// A new epoch (recording resumed after `off`) or a guard: the slow part of the entry checks.
// Returns true when the hook must return at once.
HOOKPROF_NO_INSTRUMENT HOOKPROF_NOINLINE bool SkipOrResync(ThreadState* s, uint32_t epoch) {
  if (s->guard != 0) return true;
  s->epoch = epoch;
  s->depth = 0;  // Frames from before `off` cannot be matched any more.
  return false;
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_NOINLINE void EmitSlow(ThreadState* s, uint64_t event,
                                                       uint64_t tsc) {
  if (s->ring == nullptr && MapTraceRing(s) == nullptr) {
    __atomic_store_n(&s->ring_failures, s->ring_failures + 1, __ATOMIC_RELAXED);
    return;
  }
  uint64_t h = s->ring_head;
  if ((tsc >> (64 - kEventTscShift)) != s->ring_high) {
    s->ring_high = tsc >> (64 - kEventTscShift);
    s->ring[h & s->ring_mask] = s->ring_high << kEventTscShift;  // Node 0: sync.
    ++h;
  }
  s->ring[h & s->ring_mask] = event;
  __atomic_store_n(&s->ring_head, h + 1, __ATOMIC_RELEASE);
}

// Appends one event to the thread's trace ring: one TSC read, one store, one release store.
// The ring overwrites its oldest events; readers count what they could not copy in time.
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE void Emit(ThreadState* s, uint32_t node,
                                                      uint64_t exit_bit) {
  const uint64_t tsc = __builtin_ia32_rdtsc();
  const uint64_t event =
      (tsc << kEventTscShift) | (uint64_t{node} << kEventNodeShift) | exit_bit;
  if (HOOKPROF_UNLIKELY(s->ring == nullptr ||
                        (tsc >> (64 - kEventTscShift)) != s->ring_high)) {
    EmitSlow(s, event, tsc);
    return;
  }
  const uint64_t h = s->ring_head;
  s->ring[h & s->ring_mask] = event;
  // Release: a reader that sees the new head sees the event.
  __atomic_store_n(&s->ring_head, h + 1, __ATOMIC_RELEASE);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_NOINLINE void ExitSlow(ThreadState* s, uintptr_t fn) {
  uint32_t d = s->depth;
  if (d > kMaxDepth) {
    s->depth = d - 1;
    return;
  }
  // Look for the frame below the top: frames above it were skipped (clang exceptions, longjmp).
  const bool tracing = (LoadControl() & 0xff) == kModeTrace;
  for (uint32_t i = d; i > 0; --i) {
    if (s->stack[i - 1].fn == fn) {
      if (tracing) {
        for (uint32_t k = d; k >= i; --k) Emit(s, s->stack[k - 1].node, kEventExit);
      }
      __atomic_store_n(&s->resyncs, s->resyncs + (d - i), __ATOMIC_RELAXED);
      __atomic_signal_fence(__ATOMIC_RELEASE);
      s->depth = i - 1;
      return;
    }
  }
  __atomic_store_n(&s->unmatched_exits, s->unmatched_exits + 1, __ATOMIC_RELAXED);
}

}  // namespace
}  // namespace instrument
}  // namespace hookprof

using hookprof::instrument::Frame;
using hookprof::instrument::kMaxDepth;
using hookprof::instrument::kModeOff;
using hookprof::instrument::Node;
using hookprof::instrument::ThreadState;
namespace hi = hookprof::instrument;

extern "C" {

HOOKPROF_NO_INSTRUMENT void __cyg_profile_func_enter(void* this_fn, void* call_site) {
  const uint64_t control = hi::LoadControl();
  if (HOOKPROF_UNLIKELY((control & 0xff) == kModeOff)) return;
  ThreadState* s = hi::t_state;
  if (HOOKPROF_UNLIKELY(s == nullptr)) {
    s = hi::RegisterCurrentThread();
    if (s == nullptr) return;
  }
  const uint32_t epoch = static_cast<uint32_t>(control >> 8);
  if (HOOKPROF_UNLIKELY((s->guard | (s->epoch ^ epoch)) != 0) && hi::SkipOrResync(s, epoch)) {
    return;
  }
  uint32_t d = s->depth;
  if (HOOKPROF_UNLIKELY(d >= kMaxDepth)) {
    s->depth = d + 1;
    __atomic_store_n(&s->truncated_frames, s->truncated_frames + 1, __ATOMIC_RELAXED);
    return;
  }
  const uint32_t sp = hi::StackPointer32();
  const uintptr_t fn = reinterpret_cast<uintptr_t>(this_fn);
  const uintptr_t site = reinterpret_cast<uintptr_t>(call_site);
  // A legitimate caller's frame is above ours, or level with it when we are inlined into it
  // (see Frame::sp): pop the ones that are neither.
  while (d > 0) {
    const Frame& top = s->stack[d - 1];
    const uint32_t below = sp - top.sp;  // > 0: top is deeper than this call.
    if (below == 0 ? (top.call_site == site && top.fn != fn) : below >= hi::kStaleWindow) break;
    if ((control & 0xff) == hi::kModeTrace) hi::Emit(s, top.node, hi::kEventExit);
    --d;
    __atomic_store_n(&s->resyncs, s->resyncs + 1, __ATOMIC_RELAXED);
  }
  Node* nodes = s->nodes;
  const uint32_t parent = d != 0 ? s->stack[d - 1].node : hi::kRootNode;
  uint32_t child = nodes[parent].hot_child;
  if (HOOKPROF_UNLIKELY(child == 0 || nodes[child].fn != fn)) {
    child = hi::FindOrInsertChild(s, parent, fn);
    nodes[parent].hot_child = child;
  }
  __atomic_store_n(&nodes[child].calls, nodes[child].calls + 1, __ATOMIC_RELAXED);
  Frame& f = s->stack[d];
  f.fn = fn;
  f.call_site = site;
  f.node = child;
  f.sp = sp;
  // The SIGPROF handler on this thread reads stack[depth - 1]: the frame first, then depth.
  __atomic_signal_fence(__ATOMIC_RELEASE);
  s->depth = d + 1;
  if (HOOKPROF_UNLIKELY((control & 0xff) == hi::kModeTrace)) hi::Emit(s, child, 0);
}

HOOKPROF_NO_INSTRUMENT void __cyg_profile_func_exit(void* this_fn, void* call_site) {
  const uint64_t control = hi::LoadControl();
  if (HOOKPROF_UNLIKELY((control & 0xff) == kModeOff)) return;
  ThreadState* s = hi::t_state;
  if (HOOKPROF_UNLIKELY(s == nullptr)) return;
  if (HOOKPROF_UNLIKELY((s->guard | (s->epoch ^ static_cast<uint32_t>(control >> 8))) != 0)) {
    return;
  }
  const uintptr_t fn = reinterpret_cast<uintptr_t>(this_fn);
  const uint32_t d = s->depth;
  if (HOOKPROF_LIKELY(d != 0 && d <= kMaxDepth && s->stack[d - 1].fn == fn)) {
    if (HOOKPROF_UNLIKELY((control & 0xff) == hi::kModeTrace)) {
      hi::Emit(s, s->stack[d - 1].node, hi::kEventExit);
    }
    s->depth = d - 1;
    return;
  }
  hi::ExitSlow(s, fn);
}

}  // extern "C"
