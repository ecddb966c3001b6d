// Where every live thread is now (Go's goroutine profile, for threads) and which stack created
// each thread (threadcreate). Stacks come from the shadow stacks: no unwinding, no stopping.
//
// A thread's stack is read while it runs: the top frame's node is one word, and the path from
// it to the root follows immutable parent links, so the stack is always a path the thread
// really had at about that instant.
//
// Thread-safety: any thread.
#ifndef HOOKPROF_RUNTIME_PPROF_THREAD_PROFILE_H_
#define HOOKPROF_RUNTIME_PPROF_THREAD_PROFILE_H_

#include <stdint.h>

#include <string>
#include <vector>

#include "instrument/state/thread_state.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {

struct ThreadStack {
  int tid = 0;
  std::string name;
  std::string state;            // From /proc: "running", "sleeping", ...
  std::vector<uint32_t> nodes;  // Leaf first; empty when no instrumented frame is live.
  const instrument::ThreadState* thread = nullptr;
  uint32_t labels = 0;  // Label set (instrument/labels.h): the thread's now, or at its creation.
  uint64_t count = 1;   // Threads with this record: more than one for creations merged when
                        // their states were taken over (instrument::RetiredCreations).
};

// Every live recorded thread.
std::vector<ThreadStack> LiveThreadStacks();
// The creator's stack of every recorded thread that was started by pthread_create after
// hookprof loaded (so std::thread too), alive or not; the creations of exited threads whose
// states were taken over, one record per creator stack with their count.
std::vector<ThreadStack> CreatorStacks();

// pprof profile with one sample per record: `type`/count (goroutine or threadcreate), labels
// thread, tid and state.
void BuildStackCountProfile(const std::vector<ThreadStack>& stacks, const std::string& type,
                            ProfileBuilder* builder);

// Go's debug=1 text: "<type> profile: total N", then "count @ 0xPC ..." per distinct stack,
// each followed by "#\t0xPC\tname+0x0" lines.
std::string StackCountText(const std::vector<ThreadStack>& stacks, const std::string& type,
                           const Symbolizer& symbolizer);

// Go's goroutine?debug=2 for threads: one block per thread with tid, name, state and stack.
std::string ThreadDump(const std::vector<ThreadStack>& stacks, const Symbolizer& symbolizer);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PPROF_THREAD_PROFILE_H_
