// Reading a thread's trace ring (instrument/state/thread_state.h) from another thread: the events
// written since a position, with their full TSC values, in bounded batches; and its slice ring
// (filtered traces), whose records are complete already.
//
// Events hold the low 42 bits of the TSC; full values are rebuilt backwards from a TSC read
// after the ring's head. A first backward pass keeps only the rebuilt value at each batch's
// end, so the events themselves are decoded and handed over one batch at a time, oldest
// first: a reader needs about 1.5 MiB whatever the number of events (a busy thread writes
// millions between two polls). A ring overwrites its oldest events; whatever was overwritten
// before it could be read is counted as lost.
//
// Thread-safety: any thread, concurrently with the ring's owner.
#ifndef HOOKPROF_RUNTIME_TRACE_TRACE_RING_H_
#define HOOKPROF_RUNTIME_TRACE_TRACE_RING_H_

#include <stdint.h>

#include <functional>
#include <vector>

#include "instrument/state/thread_state.h"

namespace hookprof {
namespace runtime {

struct TraceEvent {
  uint64_t tsc;
  uint32_t node;
  bool exit;
};

// Events decoded at a time.
inline constexpr size_t kTraceBatchEvents = 65536;

// Hands the events of `s`'s ring from index `from` on to `visit`, oldest first, in batches of
// at most kTraceBatchEvents, leaving out those stamped after `tsc_end`. Adds what was
// overwritten before it could be read to `*lost`; `*next` is the index to read from next time.
void ReadTraceRing(const instrument::ThreadState* s, uint64_t from, uint64_t tsc_end,
                   uint64_t* lost, uint64_t* next,
                   const std::function<void(const std::vector<TraceEvent>&)>& visit);

// Hands the records of `s`'s slice ring from index `from` on to `visit` in order of their ends
// (at most kTraceBatchEvents at a time). Adds what was overwritten before it could be read to
// `*lost`; `*next` is the index to read from next time.
void ReadSliceRing(const instrument::ThreadState* s, uint64_t from, uint64_t* lost, uint64_t* next,
                   const std::function<void(const std::vector<instrument::SliceRecord>&)>& visit);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_TRACE_TRACE_RING_H_
