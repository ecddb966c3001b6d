#include "runtime/pprof/legacy_cpu_profile.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "instrument/unwind.h"

namespace hookprof {
namespace runtime {

std::string EncodeLegacyCpuProfile(const Snapshot& delta, uint64_t period_nanos) {
  std::vector<uintptr_t> words = {0, 3, 0, static_cast<uintptr_t>(period_nanos / 1000), 0};
  std::vector<uintptr_t> stack;
  std::vector<uint32_t> path;
  for (const ThreadSnapshot& t : delta.threads) {
    const instrument::Node* nodes = t.state->nodes;
    for (size_t i = 2; i < t.samples.size(); ++i) {
      if (t.samples[i] == 0) continue;
      CallPath(t.state, static_cast<uint32_t>(i), &path);
      stack.clear();
      for (uint32_t j : path) {
        if (j == instrument::kOverflowNode) break;  // No address to give for dropped paths.
        // Readers subtract one from caller addresses (they expect return addresses): point one
        // byte into the function so the result is still inside it.
        const uintptr_t fn = nodes[j].fn;
        if (instrument::IsUnwound(fn)) {  // A walked frame: its return address is one already.
          stack.push_back(instrument::UnwoundReturn(fn) - (stack.empty() ? 1 : 0));
          continue;
        }
        stack.push_back(fn + (stack.empty() ? 0 : 1));
      }
      words.push_back(t.samples[i]);
      words.push_back(stack.size());
      words.insert(words.end(), stack.begin(), stack.end());
    }
  }
  words.insert(words.end(), {0, 1, 0});
  std::string out(reinterpret_cast<const char*>(words.data()), words.size() * sizeof(uintptr_t));
  std::ifstream maps("/proc/self/maps");
  std::stringstream ss;
  ss << maps.rdbuf();
  out += ss.str();
  return out;
}

}  // namespace runtime
}  // namespace hookprof
