// Reading a thread's trace ring (instrument/thread_state.h) from another thread: copies the
// events written since a position and rebuilds their full TSC values.
//
// Full TSC values are rebuilt from the events' low 42 bits backwards from a TSC read after the
// ring's head. A ring overwrites its oldest events; whatever was overwritten before it could be
// copied is counted as lost.
//
// Thread-safety: any thread, concurrently with the ring's owner.
#ifndef HOOKPROF_RUNTIME_TRACE_RING_H_
#define HOOKPROF_RUNTIME_TRACE_RING_H_

#include <stdint.h>

#include <vector>

#include "instrument/thread_state.h"

namespace hookprof {
namespace runtime {

struct TraceEvent {
  uint64_t tsc;
  uint32_t node;
  bool exit;
};

// The events of `s`'s ring from index `from` on, oldest first, leaving out those stamped after
// `tsc_end`. Adds what was overwritten before it could be copied to `*lost`; `*next` is the
// index to read from next time.
std::vector<TraceEvent> ReadTraceRing(const instrument::ThreadState* s, uint64_t from,
                                      uint64_t tsc_end, uint64_t* lost, uint64_t* next);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_TRACE_RING_H_
