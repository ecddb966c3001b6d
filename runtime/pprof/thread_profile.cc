#include "runtime/pprof/thread_profile.h"

#include <stdio.h>
#include <string.h>

#include <fstream>
#include <map>
#include <sstream>

#include "instrument/labels.h"
#include "instrument/state/clock.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/call_stacks.h"

namespace hookprof {
namespace runtime {
namespace {

std::string ProcTaskFile(int tid, const char* file) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string StateName(char c) {
  switch (c) {
    case 'R':
      return "running";
    case 'S':
      return "sleeping";
    case 'D':
      return "uninterruptible wait";
    case 'T':
      return "stopped";
    case 't':
      return "tracing stop";
    case 'Z':
      return "zombie";
    case 'X':
      return "dead";
    case 'I':
      return "idle";
    default:
      return std::string("state ") + c;
  }
}

std::string FrameName(const ThreadStack& t, uint32_t node, const Symbolizer& sym, uintptr_t* pc) {
  *pc = 0;
  if (node == instrument::kOverflowNode) return kDroppedPathsFrame;
  *pc = t.thread->nodes[node].fn;
  return sym.NameOf(*pc);
}

}  // namespace

std::vector<ThreadStack> LiveThreadStacks() {
  std::vector<ThreadStack> out;
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    if (__atomic_load_n(&s->internal, __ATOMIC_RELAXED) ||
        !__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE)) {
      continue;
    }
    ThreadStack t;
    t.thread = s;
    t.tid = instrument::TidOf(s);
    t.name = ThreadName(s);
    const std::string stat = ProcTaskFile(t.tid, "stat");
    const size_t paren = stat.rfind(')');
    t.state = paren != std::string::npos && paren + 2 < stat.size() ? StateName(stat[paren + 2])
                                                                    : "exited";
    uint32_t depth = __atomic_load_n(&s->depth, __ATOMIC_RELAXED);
    if (depth > instrument::kMaxDepth) depth = instrument::kMaxDepth;
    if (depth > 0) {
      const uint32_t node = __atomic_load_n(&s->stack[depth - 1].node, __ATOMIC_RELAXED);
      CallPath(s, node, &t.nodes);
    }
    t.labels = instrument::LabelSetOfThread(s);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<ThreadStack> CreatorStacks() {
  std::vector<ThreadStack> out;
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    const instrument::ThreadState* creator = __atomic_load_n(&s->creator, __ATOMIC_ACQUIRE);
    if (creator == nullptr || __atomic_load_n(&s->internal, __ATOMIC_RELAXED)) continue;
    ThreadStack t;
    t.thread = creator;
    t.tid = instrument::TidOf(s);
    const bool alive = __atomic_load_n(&s->alive, __ATOMIC_ACQUIRE) != 0;
    t.name = ThreadName(s);
    t.state = alive ? "alive" : "exited";
    CallPath(creator, s->creator_node, &t.nodes);
    t.labels = LabelSetOfNode(creator, s->creator_node);
    out.push_back(std::move(t));
  }
  std::vector<instrument::RetiredCreation> retired(instrument::kMaxRetiredCreations);
  retired.resize(instrument::RetiredCreations(retired.data(), retired.size(), nullptr));
  for (const instrument::RetiredCreation& r : retired) {
    ThreadStack t;
    t.thread = r.creator;
    t.name = "(exited threads)";
    t.state = "exited";
    t.count = r.count;
    CallPath(r.creator, r.node, &t.nodes);
    t.labels = LabelSetOfNode(r.creator, r.node);
    out.push_back(std::move(t));
  }
  return out;
}

void BuildStackCountProfile(const std::vector<ThreadStack>& stacks, const std::string& type,
                            ProfileBuilder* b) {
  auto& p = b->profile();
  b->AddSampleType(type, "count");
  b->SetPeriod(type, "count", 1);
  p.set_time_nanos(instrument::RealtimeNanos());
  const int64_t thread_key = b->Intern("thread");
  const int64_t tid_key = b->Intern("tid");
  const int64_t state_key = b->Intern("state");
  std::vector<uint64_t> stack;
  for (const ThreadStack& t : stacks) {
    auto* s = p.add_sample();
    NodeStack(t.thread, t.nodes.empty() ? instrument::kRootNode : t.nodes.front(), 0, Leaf::kNone,
              0, b, &stack);
    for (uint64_t id : stack) s->add_location_id(id);
    s->add_value(static_cast<int64_t>(t.count));
    auto* l = s->add_label();
    l->set_key(thread_key);
    l->set_str(b->Intern(t.name));
    l = s->add_label();
    l->set_key(tid_key);
    l->set_num(t.tid);
    l = s->add_label();
    l->set_key(state_key);
    l->set_str(b->Intern(t.state));
    AddSetLabels(t.labels, b, s);
  }
}

std::string StackCountText(const std::vector<ThreadStack>& stacks, const std::string& type,
                           const Symbolizer& sym) {
  // Group by the stack's addresses, as Go's debug=1 text does.
  std::map<std::vector<uintptr_t>, std::pair<uint64_t, const ThreadStack*>> groups;
  std::map<std::vector<uintptr_t>, std::vector<std::string>> names;
  for (const ThreadStack& t : stacks) {
    std::vector<uintptr_t> pcs;
    std::vector<std::string> frames;
    for (uint32_t n : t.nodes) {
      uintptr_t pc;
      frames.push_back(FrameName(t, n, sym, &pc));
      pcs.push_back(pc);
    }
    if (pcs.empty()) {  // Every record names at least one frame, as Go's do.
      pcs.push_back(0);
      frames.push_back("[no instrumented frame]");
    }
    auto& g = groups[pcs];
    g.first += t.count;
    names[pcs] = frames;
  }
  std::ostringstream out;
  uint64_t total = 0;
  for (const ThreadStack& t : stacks) total += t.count;
  out << type << " profile: total " << total << "\n";
  for (const auto& [entries, g] : groups) {
    const std::vector<uintptr_t> pcs = ForLegacyReaders(entries);
    out << g.first << " @";
    for (uintptr_t pc : pcs) out << " 0x" << std::hex << pc << std::dec;
    out << "\n";
    const auto& frames = names[entries];
    for (size_t i = 0; i < pcs.size(); ++i) {
      out << "#\t0x" << std::hex << pcs[i] << std::dec << "\t" << frames[i] << "+0x0\n";
    }
    out << "\n";
  }
  return out.str();
}

std::string ThreadDump(const std::vector<ThreadStack>& stacks, const Symbolizer& sym) {
  std::ostringstream out;
  for (const ThreadStack& t : stacks) {
    out << "thread " << t.tid << " \"" << t.name << "\" [" << t.state << "]:\n";
    if (t.nodes.empty()) out << "[no instrumented frame]\n";
    for (uint32_t n : t.nodes) {
      uintptr_t pc;
      const std::string name = FrameName(t, n, sym, &pc);
      out << name << "\n\t0x" << std::hex << pc << std::dec << "\n";
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace runtime
}  // namespace hookprof
