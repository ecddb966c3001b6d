// Helpers for tests that look at the recorder's per-thread trees.
#ifndef HOOKPROF_TESTS_TEST_UTIL_H_
#define HOOKPROF_TESTS_TEST_UTIL_H_

#include <stdint.h>

#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

#include "instrument/state/thread_state.h"

namespace hookprof {
namespace testing {

template <typename F>
uintptr_t Addr(F* f) {
  return reinterpret_cast<uintptr_t>(f);
}

// Runs `body` on a new thread and returns that thread's recorder state (it stays valid after
// the thread exits: states are never freed).
inline const instrument::ThreadState* RunOnNewThread(const std::function<void()>& body) {
  const instrument::ThreadState* state = nullptr;
  std::thread t([&] {
    state = instrument::CurrentThreadState();
    body();
  });
  t.join();
  return state;
}

// Nodes whose call path ends with `path` (outermost first) and whose frame above path[0] is
// the root or not one of `anchors`: the same answer whether or not the test's own frames
// (lambdas, thread bodies) are instrumented too.
inline std::vector<uint32_t> FindPaths(const instrument::ThreadState* s,
                                       const std::vector<uintptr_t>& path,
                                       const std::vector<uintptr_t>& anchors) {
  std::vector<uint32_t> out;
  const uint32_t n = instrument::PublishedNodes(s);
  for (uint32_t i = 2; i < n; ++i) {
    uint32_t cur = i;
    bool match = true;
    for (size_t k = path.size(); k-- > 0;) {
      if (cur == instrument::kRootNode || s->nodes[cur].fn != path[k]) {
        match = false;
        break;
      }
      cur = s->nodes[cur].parent;
    }
    if (!match) continue;
    if (cur != instrument::kRootNode &&
        std::find(anchors.begin(), anchors.end(), s->nodes[cur].fn) != anchors.end()) {
      continue;
    }
    out.push_back(i);
  }
  return out;
}

inline int64_t FindPath(const instrument::ThreadState* s, const std::vector<uintptr_t>& path,
                        const std::vector<uintptr_t>& anchors = {}) {
  const std::vector<uint32_t> found = FindPaths(s, path, anchors);
  return found.empty() ? int64_t{-1} : int64_t{found[0]};
}

inline uint64_t CallsOnPath(const instrument::ThreadState* s, const std::vector<uintptr_t>& path,
                            const std::vector<uintptr_t>& anchors = {}) {
  uint64_t total = 0;
  for (uint32_t node : FindPaths(s, path, anchors)) {
    total += instrument::LoadRelaxed(s->nodes[node].calls);
  }
  return total;
}

// Calls of `fn` over every path of the thread.
inline uint64_t TotalCalls(const instrument::ThreadState* s, uintptr_t fn) {
  uint64_t total = 0;
  const uint32_t n = instrument::PublishedNodes(s);
  for (uint32_t i = 2; i < n; ++i) {
    if (s->nodes[i].fn == fn) total += instrument::LoadRelaxed(s->nodes[i].calls);
  }
  return total;
}

}  // namespace testing
}  // namespace hookprof

#endif  // HOOKPROF_TESTS_TEST_UTIL_H_
