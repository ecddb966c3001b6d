// The words the hooks write for readers on other threads, each as an encode/decode pair: trace
// ring events and the hook-side slice filter. Readers (runtime/trace) decode only through
// these; a change of layout changes kEventFormatVersion.
//
// Trace ring events, one 64-bit word each (8 bytes per event, 16 per call):
//   bit 0       1 = exit, 0 = enter
//   bits 1-21   CCT node index (kMaxNodes fits); 0 = a sync event
//   bits 22-63  the low 42 bits of the TSC; a sync event carries TSC >> 42 there instead,
//               written whenever those high bits change, so readers rebuild full timestamps
//
// The slice filter (one relaxed load at each timed exit): 0 = no filtered window is open; else
// bit 0 set, bits 1-13 the deepest stack depth kept (0 = any), bits 14-63 the shortest
// duration kept, in TSC ticks.
//
// Everything here is constexpr arithmetic: async-signal-safe, no state.
#ifndef HOOKPROF_INSTRUMENT_STATE_EVENT_WORDS_H_
#define HOOKPROF_INSTRUMENT_STATE_EVENT_WORDS_H_

#include <stdint.h>

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {

inline constexpr uint32_t kEventFormatVersion = 1;

inline constexpr int kEventNodeShift = 1;
inline constexpr uint64_t kEventNodeMask = (uint64_t{1} << 21) - 1;
inline constexpr int kEventTscShift = 22;
inline constexpr int kEventTscBits = 64 - kEventTscShift;
inline constexpr uint64_t kEventExit = 1;

HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE constexpr uint64_t EncodeEvent(uint64_t tsc,
                                                                             uint32_t node,
                                                                             uint64_t exit_bit) {
  return (tsc << kEventTscShift) | (uint64_t{node} << kEventNodeShift) | exit_bit;
}
// The TSC bits an event does not carry: a sync event is written whenever they change.
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE constexpr uint64_t TscHigh(uint64_t tsc) {
  return tsc >> kEventTscBits;
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE constexpr uint64_t EncodeSync(uint64_t tsc_high) {
  return tsc_high << kEventTscShift;
}
inline constexpr uint32_t EventNode(uint64_t e) {
  return static_cast<uint32_t>((e >> kEventNodeShift) & kEventNodeMask);
}
inline constexpr bool IsSync(uint64_t e) { return EventNode(e) == 0; }
inline constexpr bool IsExit(uint64_t e) { return (e & kEventExit) != 0; }
// The low kEventTscBits of the event's TSC (of a sync event: the high bits).
inline constexpr uint64_t EventTscLow(uint64_t e) { return e >> kEventTscShift; }
// The full TSC of an event, the latest value with its low bits not after `later` (the full TSC
// of the next event, or a TSC read after it).
inline constexpr uint64_t EventTscBefore(uint64_t later, uint64_t e) {
  constexpr uint64_t kLow = (uint64_t{1} << kEventTscBits) - 1;
  return later - ((later - EventTscLow(e)) & kLow);
}

inline constexpr int kSliceDepthShift = 1;
inline constexpr uint64_t kSliceDepthMask = 0x1fff;
inline constexpr int kSliceTicksShift = 14;
inline constexpr uint64_t kSliceMaxTicks = ~uint64_t{0} >> kSliceTicksShift;

// Ticks are capped to what fits; a depth beyond the mask means any.
inline constexpr uint64_t EncodeSliceFilter(uint64_t min_ticks, uint32_t max_depth) {
  return 1 | (uint64_t{max_depth > kSliceDepthMask ? 0 : max_depth} << kSliceDepthShift) |
         ((min_ticks < kSliceMaxTicks ? min_ticks : kSliceMaxTicks) << kSliceTicksShift);
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE constexpr uint32_t SliceFilterDepth(uint64_t w) {
  return static_cast<uint32_t>(w >> kSliceDepthShift) & kSliceDepthMask;
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE constexpr uint64_t SliceFilterTicks(uint64_t w) {
  return w >> kSliceTicksShift;
}

static_assert(EventNode(EncodeEvent(12345, 77, kEventExit)) == 77, "node round trip");
static_assert(IsExit(EncodeEvent(12345, 77, kEventExit)), "exit bit round trip");
static_assert(EventTscBefore(12345 + 10, EncodeEvent(12345, 77, 0)) == 12345, "TSC round trip");
static_assert(SliceFilterDepth(EncodeSliceFilter(99, 7)) == 7, "depth round trip");
static_assert(SliceFilterTicks(EncodeSliceFilter(99, 7)) == 99, "ticks round trip");

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STATE_EVENT_WORDS_H_
