#include "runtime/core/snapshot.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <fstream>
#include <unordered_map>

#include "instrument/labels.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/state/clock.h"
#include "instrument/unwind.h"

namespace hookprof {
namespace runtime {
namespace {

// The clocks when the library loaded: the reference of whole-run wall times.
const instrument::TscPair g_start = instrument::TscPair::Now();

}  // namespace

void ThreadCounters::Add(const ThreadCounters& o) {
#define HOOKPROF_THREAD_COUNTER(field, loss, label, comment) field += o.field;
#include "instrument/state/thread_counters.inc"
#undef HOOKPROF_THREAD_COUNTER
}

void ThreadCounters::Subtract(const ThreadCounters& o) {
#define HOOKPROF_THREAD_COUNTER(field, loss, label, comment) field -= o.field;
#include "instrument/state/thread_counters.inc"
#undef HOOKPROF_THREAD_COUNTER
}

uint64_t ThreadCounters::Losses() const {
  uint64_t n = 0;
#define HOOKPROF_THREAD_COUNTER(field, loss, label, comment) n += (loss) ? field : 0;
#include "instrument/state/thread_counters.inc"
#undef HOOKPROF_THREAD_COUNTER
  return n;
}

void CallPath(const instrument::ThreadState* s, uint32_t node, std::vector<uint32_t>* out) {
  out->clear();
  if (node >= instrument::PublishedNodes(s)) return;
  for (uint32_t n = node; n != instrument::kRootNode; n = s->nodes[n].parent) {
    if (!instrument::IsLabelFn(s->nodes[n].fn)) out->push_back(n);
  }
}

uint32_t LabelSetOfNode(const instrument::ThreadState* s, uint32_t node) {
  if (s == nullptr || node >= instrument::PublishedNodes(s)) return 0;
  return instrument::LabelSetOfPath(s, node);
}

uint32_t FunctionNodeOf(const instrument::ThreadState* s, uint32_t node) {
  if (node >= instrument::PublishedNodes(s)) return node;
  uint32_t n = node;
  while (n != instrument::kRootNode && instrument::IsLabelFn(s->nodes[n].fn))
    n = s->nodes[n].parent;
  return n;
}

std::vector<uintptr_t> EventStack(const instrument::ThreadState* s, uint32_t node,
                                  uintptr_t call_site) {
  std::vector<uintptr_t> pcs;
  if (call_site != 0) pcs.push_back(call_site);
  if (s != nullptr) {
    std::vector<uint32_t> path;
    CallPath(s, node, &path);
    for (uint32_t n : path) {
      const uintptr_t fn = n == instrument::kOverflowNode ? 0 : s->nodes[n].fn;
      // A walked frame stands for its call instruction (legacy readers add the 1 back).
      pcs.push_back(instrument::IsUnwound(fn) ? instrument::UnwoundReturn(fn) - 1 : fn);
    }
  }
  return pcs;
}

std::vector<uintptr_t> ForLegacyReaders(std::vector<uintptr_t> pcs) {
  for (size_t i = 1; i < pcs.size(); ++i) {
    if (pcs[i] != 0) ++pcs[i];
  }
  return pcs;
}

std::string ThreadName(const instrument::ThreadState* s) {
  std::string name;
  if (__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE)) {
    std::ifstream in("/proc/self/task/" + std::to_string(instrument::TidOf(s)) + "/comm");
    std::getline(in, name);
  }
  if (name.empty()) name.assign(s->name, strnlen(s->name, sizeof(s->name)));
  return name.empty() ? std::to_string(instrument::TidOf(s)) : name;
}

namespace {

// A live thread's name and whether it blocks SIGPROF, from one read of its status file.
// False when the thread is gone.
bool ReadTaskStatus(int tid, std::string* name, bool* blocks_sigprof) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    any = true;
    if (line.compare(0, 5, "Name:") == 0) {
      const size_t start = line.find_first_not_of(" \t", 5);
      name->assign(start == std::string::npos ? "" : line.substr(start));
    } else if (line.compare(0, 7, "SigBlk:") == 0) {
      const unsigned long long mask = strtoull(line.c_str() + 7, nullptr, 16);
      *blocks_sigprof = (mask >> (SIGPROF - 1)) & 1;
      break;  // After Name.
    }
  }
  return any;
}

}  // namespace

Snapshot Snapshot::Take() {
  using instrument::LoadRelaxed;
  Snapshot snap;
  snap.time_nanos = instrument::RealtimeNanos();
  const instrument::TscPair now = instrument::TscPair::Now();
  snap.mono_nanos = now.mono_ns;
  snap.tsc = now.tsc;
  snap.unattributed_samples = instrument::UnattributedSamples();
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    if (__atomic_load_n(&s->internal, __ATOMIC_RELAXED)) continue;
    ThreadSnapshot t;
    t.state = s;
    t.tid = instrument::TidOf(s);
    t.alive = __atomic_load_n(&s->alive, __ATOMIC_ACQUIRE) != 0;
    if (!t.alive || !ReadTaskStatus(t.tid, &t.name, &t.blocks_sigprof) || t.name.empty()) {
      t.name = ThreadName(s);
    }
    // PCs before nodes: a sample charges its node before its PC, so a node's samples read
    // after its PCs' are at least their sum (the profile splits the first among the second).
    const uint32_t pcs = instrument::PublishedPcSamples(s);
    t.pcs.resize(pcs);
    for (uint32_t i = 0; i < pcs; ++i) {
      const instrument::PcSample& e = s->pc_samples[i];
      t.pcs[i].pc = e.pc;
      t.pcs[i].site = e.site;
      t.pcs[i].node = e.node;
      t.pcs[i].count = LoadRelaxed(e.count);
    }
    const uint32_t n = instrument::PublishedNodes(s);
    t.calls.resize(n);
    t.samples.resize(n);
    t.wall_ticks.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      t.calls[i] = LoadRelaxed(s->nodes[i].calls);
      t.samples[i] = LoadRelaxed(s->nodes[i].samples);
      t.wall_ticks[i] = LoadRelaxed(s->nodes[i].wall_ticks);
    }
#define HOOKPROF_THREAD_COUNTER(field, loss, label, comment) \
  t.counters.field = LoadRelaxed(s->field);
#include "instrument/state/thread_counters.inc"
#undef HOOKPROF_THREAD_COUNTER
    snap.threads.push_back(std::move(t));
  }
  return snap;
}

std::vector<uint64_t> Snapshot::SelfWallTicks(const ThreadSnapshot& t) {
  std::vector<uint64_t> self = t.wall_ticks;
  const instrument::Node* nodes = t.state->nodes;
  for (size_t i = 2; i < t.wall_ticks.size(); ++i) {
    const uint32_t parent = nodes[i].parent;
    if (parent > instrument::kOverflowNode && parent < self.size()) {
      self[parent] -= std::min(self[parent], t.wall_ticks[i]);
    }
  }
  return self;
}

bool Snapshot::HasWall() const {
  for (const ThreadSnapshot& t : threads) {
    for (uint64_t w : t.wall_ticks) {
      if (w != 0) return true;
    }
  }
  return false;
}

bool Snapshot::HasCalls() const {
  for (const ThreadSnapshot& t : threads) {
    for (uint64_t c : t.calls) {
      if (c != 0) return true;
    }
  }
  return false;
}

Snapshot Snapshot::Delta(const Snapshot& begin, const Snapshot& end) {
  std::unordered_map<const instrument::ThreadState*, const ThreadSnapshot*> before;
  for (const ThreadSnapshot& t : begin.threads) before[t.state] = &t;
  Snapshot d;
  d.time_nanos = begin.time_nanos;
  // A whole-run delta (empty begin) converts ticks with the clocks since the library loaded.
  const uint64_t tsc0 = begin.tsc != 0 ? begin.tsc : g_start.tsc;
  const int64_t mono0 = begin.tsc != 0 ? begin.mono_nanos : g_start.mono_ns;
  d.tsc = end.tsc > tsc0 ? end.tsc - tsc0 : 0;
  d.mono_nanos = end.mono_nanos - mono0;
  d.unattributed_samples = end.unattributed_samples - begin.unattributed_samples;
  for (const ThreadSnapshot& t : end.threads) {
    ThreadSnapshot out = t;
    auto it = before.find(t.state);
    if (it != before.end()) {
      const ThreadSnapshot& b = *it->second;
      // Counters only grow, and a node's index never changes: subtract in place.
      for (size_t i = 0; i < b.calls.size() && i < out.calls.size(); ++i) {
        out.calls[i] -= b.calls[i];
        out.samples[i] -= b.samples[i];
        out.wall_ticks[i] -= b.wall_ticks[i];
      }
      for (size_t i = 0; i < b.pcs.size() && i < out.pcs.size(); ++i) {
        out.pcs[i].count -= b.pcs[i].count;
      }
      out.counters.Subtract(b.counters);
    }
    d.threads.push_back(std::move(out));
  }
  return d;
}

}  // namespace runtime
}  // namespace hookprof
