// Which label set a call path or a thread is in, read from the state alone (labels.h interns
// the sets and runs the scopes): for the latency records and the runtime.
#ifndef HOOKPROF_INSTRUMENT_STATE_LABEL_SETS_H_
#define HOOKPROF_INSTRUMENT_STATE_LABEL_SETS_H_

#include <stdint.h>

#include "instrument/attributes.h"
#include "instrument/state/thread_state.h"

namespace hookprof {
namespace instrument {

// The set of the calls on path `node` of `s` (published): its nearest label pseudo-node's, 0 for
// none. Any thread: parent links never change.
HOOKPROF_NO_INSTRUMENT inline uint32_t LabelSetOfPath(const ThreadState* s, uint32_t node) {
  for (uint32_t n = node; n != kRootNode; n = s->nodes[n].parent) {
    if (IsLabelFn(s->nodes[n].fn)) return LabelSetOfFn(s->nodes[n].fn);
  }
  return 0;
}
// A thread's current set, read from any thread (relaxed).
inline uint32_t LabelSetOfThread(const ThreadState* s) {
  return __atomic_load_n(&s->label_current, __ATOMIC_RELAXED);
}

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STATE_LABEL_SETS_H_
