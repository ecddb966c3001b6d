// The timed modes' out-of-line record (see timed_record.h), called by the hooks in hooks.cc.
#include "instrument/records/timed_record.h"

#include "instrument/attributes.h"
#include "instrument/state/tsc.h"

namespace hookprof {
namespace instrument {

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void EmitSlow(ThreadState* s,
                                                                             uint64_t event,
                                                                             uint64_t tsc) {
  if (s->ring == nullptr && MapTraceRing(s) == nullptr) {
    __atomic_store_n(&s->ring_failures, s->ring_failures + 1, __ATOMIC_RELAXED);
    return;
  }
  uint64_t h = s->ring_head;
  if (TscHigh(tsc) != s->ring_high) {
    s->ring_high = TscHigh(tsc);
    s->ring[h & s->ring_mask] = EncodeSync(s->ring_high);
    ++h;
  }
  s->ring[h & s->ring_mask] = event;
  __atomic_store_n(&s->ring_head, h + 1, __ATOMIC_RELEASE);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void WriteSlice(
    ThreadState* s, uint64_t begin, uint64_t end, uint32_t node, uint32_t depth) {
  if (s->slices == nullptr && MapSliceRing(s) == nullptr) {
    __atomic_store_n(&s->ring_failures, s->ring_failures + 1, __ATOMIC_RELAXED);
    return;
  }
  const uint64_t h = s->slice_head;
  SliceRecord& r = s->slices[h & s->slice_mask];
  r.begin = begin;
  r.end = end;
  r.node = node;
  r.depth = depth;
  // Release: a reader that sees the new head sees the record.
  __atomic_store_n(&s->slice_head, h + 1, __ATOMIC_RELEASE);
}

// Timed modes: the new frame's entry TSC (and the trace's enter event), then the new depth.
// Out of line, so that the profile path needs no registers of its own to save.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void StampAndPublish(
    ThreadState* s, Frame* f, uint32_t d, uint32_t child, uint64_t control) {
  f->tsc = ReadTsc();  // One clock read serves the frame and the trace.
  if (ModeOf(control) == kModeTrace) Emit(s, child, 0, f->tsc);
  __atomic_signal_fence(__ATOMIC_RELEASE);
  PublishDepthAndClearBusy(s, d + 1);
}

namespace {

// ExitTimed's general case, in the busy window and with the clock read.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void ExitTimedSlow(ThreadState* s,
                                                                                  uint32_t d,
                                                                                  uint64_t control,
                                                                                  uint64_t now) {
  const Frame& f = StackOf(s)[d - 1];
  AddWall(s, f, now, control);
  if (ModeOf(control) == kModeTrace) Emit(s, f.node, kEventExit, now);
  const uint64_t filter = __atomic_load_n(&g_slice_filter, __ATOMIC_RELAXED);
  if (HOOKPROF_UNLIKELY(filter != 0)) MaybeSlice(s, f, now, d, filter);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  PublishDepthAndClearBusy(s, d - 1);
}

// Timing mode's exit for a call the hot window does not take (AddLatencyMissed), its wall time
// already added.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void MissedAndPublish(ThreadState* s,
                                                                                     Node& n,
                                                                                     uint64_t ticks,
                                                                                     uint32_t d) {
  AddLatencyMissed(s, n, ticks);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  PublishDepthAndClearBusy(s, d - 1);
}

}  // namespace

// The exit hook's timed modes, the top frame (at depth `d`) being the call that ends. Out of line,
// so that the profile path's exit saves no registers (inlined, it pushed and popped 5 per call).
// Its common case calls nothing, so it saves none either: a call timed throughout, no trace
// filter, and in timing mode the histogram's hot window (AddLatencyHot), in trace mode a ready
// ring (TryEmit). A call the window does not take goes on to MissedAndPublish (a tail call:
// fib's durations span 20 octaves, and four in ten of its calls missed the window in a count);
// everything else to ExitTimedSlow, which starts over (nothing was changed).
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_NOINLINE void ExitTimed(ThreadState* s,
                                                                              uint32_t d,
                                                                              uint64_t control) {
  s->guard = kHookBusy;  // The ring's head and the histograms are not to be shared with a handler.
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  const Frame& f = StackOf(s)[d - 1];
  const uint64_t now = ReadTsc();
  if (HOOKPROF_LIKELY(f.tsc >= __atomic_load_n(&g_timed_since, __ATOMIC_RELAXED) && now > f.tsc &&
                      __atomic_load_n(&g_slice_filter, __ATOMIC_RELAXED) == 0)) {
    Node& n = NodesOf(s)[f.node];
    const uint64_t ticks = now - f.tsc;
    if (ModeOf(control) == kModeTiming) {
      __atomic_store_n(&n.wall_ticks, n.wall_ticks + ticks, __ATOMIC_RELAXED);
      if (HOOKPROF_UNLIKELY(!AddLatencyHot(s, n, ticks))) return MissedAndPublish(s, n, ticks, d);
    } else if (HOOKPROF_LIKELY(TryEmit(s, f.node, kEventExit, now))) {
      __atomic_store_n(&n.wall_ticks, n.wall_ticks + ticks, __ATOMIC_RELAXED);
    } else {
      return ExitTimedSlow(s, d, control, now);
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    PublishDepthAndClearBusy(s, d - 1);
    return;
  }
  ExitTimedSlow(s, d, control, now);
}

}  // namespace instrument
}  // namespace hookprof
