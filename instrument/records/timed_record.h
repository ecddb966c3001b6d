// The timed modes' per-call record, private to the instrument library: trace ring events,
// slices of filtered traces and wall time per call path (inline, for the hooks' slow paths in
// hooks.cc), and the timed halves of the enter and exit hooks (out of line, in timed_record.cc:
// the hooks tail-call them, so that the profile path saves no registers for them).
#ifndef HOOKPROF_INSTRUMENT_RECORDS_TIMED_RECORD_H_
#define HOOKPROF_INSTRUMENT_RECORDS_TIMED_RECORD_H_

#include <stddef.h>
#include <stdint.h>

#include "instrument/attributes.h"
#include "instrument/records/latency_record.h"
#include "instrument/state/thread_state.h"
#include "instrument/state/tsc.h"

namespace hookprof {
namespace instrument {

// Appends `event` (stamped `tsc`) to the thread's trace ring, mapping it first or writing the
// sync event a new TSC epoch needs (TryEmit's other cases).
__attribute__((visibility("hidden"))) void EmitSlow(ThreadState* s, uint64_t event, uint64_t tsc);
// Appends a slice of a filtered trace (a call from `begin` to `end` on path `node`).
__attribute__((visibility("hidden"))) void WriteSlice(ThreadState* s, uint64_t begin, uint64_t end,
                                                      uint32_t node, uint32_t depth);
// Timed modes: the entry TSC of frame `f` (at depth `d`, path `child`), the trace's enter event,
// and the new depth with the busy bit cleared.
__attribute__((visibility("hidden"))) void StampAndPublish(ThreadState* s, Frame* f, uint32_t d,
                                                           uint32_t child, uint64_t control);
// Timed modes: the exit of the top frame (at depth `d`): its wall time, latency or trace event,
// its slice, and the depth below it.
__attribute__((visibility("hidden"))) void ExitTimed(ThreadState* s, uint32_t d, uint64_t control);

// Appends one event stamped `tsc` to the thread's trace ring, if it is mapped and needs no sync
// event first: one store, one release store. Else returns false, having changed nothing.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE bool TryEmit(ThreadState* s,
                                                                                 uint32_t node,
                                                                                 uint64_t exit_bit,
                                                                                 uint64_t tsc) {
  if (HOOKPROF_UNLIKELY(s->ring == nullptr || TscHigh(tsc) != s->ring_high)) {
    return false;
  }
  const uint64_t h = s->ring_head;
  s->ring[h & s->ring_mask] = EncodeEvent(tsc, node, exit_bit);
  // Release: a reader that sees the new head sees the event.
  __atomic_store_n(&s->ring_head, h + 1, __ATOMIC_RELEASE);
  return true;
}

// Appends one event stamped `tsc` to the thread's trace ring. The ring overwrites its oldest
// events; readers count what they could not copy in time.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void Emit(
    ThreadState* s, uint32_t node, uint64_t exit_bit, uint64_t tsc = ReadTsc()) {
  if (HOOKPROF_UNLIKELY(!TryEmit(s, node, exit_bit, tsc))) {
    EmitSlow(s, EncodeEvent(tsc, node, exit_bit), tsc);
  }
}

// Timed modes: the wall time of a call that ends, added to its path (and, in timing mode, to its
// function's latency histogram). The frame's entry TSC counts only if it was stamped since the
// program entered a timed mode (see g_timed_since).
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void AddWall(ThreadState* s,
                                                                                 const Frame& f,
                                                                                 uint64_t now,
                                                                                 uint64_t control) {
  if (f.tsc >= __atomic_load_n(&g_timed_since, __ATOMIC_RELAXED) && now > f.tsc) {
    Node& n = s->nodes[f.node];
    __atomic_store_n(&n.wall_ticks, n.wall_ticks + (now - f.tsc), __ATOMIC_RELAXED);
    if (ModeOf(control) == kModeTiming) AddLatency(s, n, now - f.tsc);
  }
}

// A filtered trace window is open (filter != 0): the call of frame `f`, at stack depth `depth`,
// ends at `now`; it becomes a slice if it passes. A call entered before timing began starts,
// for the trace, when timing began (the window is no older).
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void MaybeSlice(
    ThreadState* s, const Frame& f, uint64_t now, uint32_t depth, uint64_t filter) {
  const uint64_t since = __atomic_load_n(&g_timed_since, __ATOMIC_RELAXED);
  const uint64_t begin = f.tsc >= since ? f.tsc : since;
  const uint32_t max_depth = SliceFilterDepth(filter);
  // Depth in functions: label scopes' pseudo-frames (labels.h) are not calls.
  depth = depth > s->label_frames ? depth - s->label_frames : 1;
  if (now < begin || now - begin < SliceFilterTicks(filter) ||
      (max_depth != 0 && depth > max_depth)) {
    return;
  }
  WriteSlice(s, begin, now, f.node, depth);
}

// depth and guard in one store (they are adjacent, little-endian): the new depth and the busy
// bit cleared at once. After the frame's stores: the SIGPROF handler reads stack[depth - 1].
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES HOOKPROF_ALWAYS_INLINE void PublishDepthAndClearBusy(
    ThreadState* s, uint32_t depth) {
  static_assert(offsetof(ThreadState, guard) == offsetof(ThreadState, depth) + 4,
                "depth and guard must share one 8-byte word");
  using Word = uint64_t __attribute__((may_alias));
  __atomic_store_n(reinterpret_cast<Word*>(&s->depth), uint64_t{depth}, __ATOMIC_RELAXED);
}

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_RECORDS_TIMED_RECORD_H_
