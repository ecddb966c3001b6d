#include "runtime/pprof/call_stacks.h"

#include "instrument/labels.h"
#include "instrument/unwind.h"
#include "runtime/core/snapshot.h"

namespace hookprof {
namespace runtime {
namespace {

using instrument::kOverflowNode;
using instrument::kRootNode;
using instrument::Node;

// Entry address of the function holding `address`, or 0.
uint64_t FunctionOf(const Symbolizer& symbolizer, uint64_t address) {
  const Symbol* s = symbolizer.FindSymbol(address);
  return s != nullptr ? s->address : 0;
}

// The call site of `child` when it is known for this stack: the sampled one for the top frame,
// else the node's first one while it has seen no other (instrument::Node::sites); 0 otherwise.
uintptr_t SiteOf(const Node& child, uintptr_t sampled) {
  if (sampled != 0) return sampled;
  return __atomic_load_n(&child.sites, __ATOMIC_RELAXED) == 1 ? child.call_site : 0;
}

// Functions a thread's machine stack starts with: a walk that ends in one of them is whole.
// hookprof's own start of the program's threads (instrument/thread_create.cc) is one: what lies
// beyond it is the C library's, or a sanitizer's, start.
// libc's internal aliases (__GI___clone3, from its debug symbols) are the same functions.
bool IsThreadEntry(const std::string& symbol) {
  const std::string name = symbol.rfind("__GI_", 0) == 0 ? symbol.substr(5) : symbol;
  return name == "__libc_start_call_main" || name == "__libc_start_main" || name == "_start" ||
         name == "start_thread" || name == "clone" || name == "clone3" || name == "__clone" ||
         name == "__clone3" || name.rfind("__libc_start_main", 0) == 0 ||
         name.rfind("hookprof::instrument::(anonymous namespace)::Trampoline", 0) == 0;
}

// hookprof's hooks and what they call (instrument/), as the symbol table names them.
bool IsHookCode(const Symbol& sym) {
  return sym.name.rfind("__cyg_profile_func_", 0) == 0 ||
         sym.name.rfind("hookprof::instrument::", 0) == 0;
}

}  // namespace

void NodeStack(const instrument::ThreadState* s, uint32_t node, uintptr_t leaf, Leaf kind,
               uintptr_t top_site, ProfileBuilder* b, std::vector<uint64_t>* out) {
  out->clear();
  std::vector<uint32_t> path;
  if (s != nullptr) CallPath(s, node, &path);
  const Symbolizer& symbolizer = b->symbolizer();
  const Node* nodes = s != nullptr ? s->nodes : nullptr;
  // Whether path[j]'s hooks ran in path[j + 1]'s frame: the compiler inlined it there and kept
  // its hooks, which then receive the caller's own return address.
  const auto inlined = [&](size_t j) {
    if (j + 1 >= path.size() || path[j + 1] == kOverflowNode) return false;
    const uintptr_t site =
        j == 0 ? (top_site != 0 ? top_site : nodes[path[0]].call_site) : nodes[path[j]].call_site;
    return site != 0 && site == nodes[path[j + 1]].call_site;
  };

  // The frames [0, first) of the path are covered by the leaf's location.
  size_t first = 0;
  if (kind != Leaf::kNone && leaf != 0) {
    const uint64_t address = kind == Leaf::kInterrupted ? leaf : leaf - 1;
    const Symbol* sym = symbolizer.FindSymbol(address);
    if (sym != nullptr && IsHookCode(*sym)) {
      // The hooks' own time: one frame under the function that called them, not their lines.
      out->push_back(b->PseudoLocation(kHooksFrame));
      sym = nullptr;
    } else {
      out->push_back(b->LocationFor(address));
    }
    const uint64_t fn = sym != nullptr ? sym->address : 0;
    for (size_t j = 0; fn != 0 && j < path.size() && path[j] != kOverflowNode; ++j) {
      if (nodes[path[j]].fn == fn) {
        first = j + 1;
        break;
      }
      if (!inlined(j)) break;
    }
  }
  for (size_t i = first; i < path.size(); ++i) {
    const uint32_t n = path[i];
    if (n == kOverflowNode) {
      out->push_back(b->PseudoLocation(kDroppedPathsFrame));
      continue;
    }
    if (nodes[n].fn == instrument::kDeepFn) {
      out->push_back(b->PseudoLocation(kDeepCallsFrame));
      continue;
    }
    const uintptr_t fn = nodes[n].fn;
    if (instrument::IsUnwound(fn)) {  // A walked frame: the line of its call.
      const uint64_t call = instrument::UnwoundReturn(fn) - 1;
      const Symbol* sym = symbolizer.FindSymbol(call);
      // hookprof's own frames (an interposer, its thread start) are not the program's.
      if (sym == nullptr || !IsHookCode(*sym)) out->push_back(b->LocationFor(call));
      // The walk's outermost frame: did it reach the start?
      if (i + 1 == path.size() && (sym == nullptr || !IsThreadEntry(sym->name))) {
        out->push_back(b->PseudoLocation(kStackCutFrame));
      }
      continue;
    }
    const uintptr_t site = i == 0 || path[i - 1] == kOverflowNode
                               ? 0
                               : SiteOf(nodes[path[i - 1]], i - 1 == 0 ? top_site : 0);
    if (site == 0 || inlined(i - 1)) {
      out->push_back(b->LocationFor(fn));  // The function's entry line: the call's is unknown.
      continue;
    }
    const uint64_t call = site - 1;  // In the call instruction.
    const uint64_t caller = FunctionOf(symbolizer, call);
    if (caller == fn) {
      out->push_back(b->LocationFor(call));
      continue;
    }
    // Uninstrumented code between the two (qsort calling a comparator): its own frame.
    if (caller != 0) out->push_back(b->LocationFor(call));
    out->push_back(b->LocationFor(fn));
  }
  if (path.empty() && !out->empty() && kind == Leaf::kInterrupted) {
    out->push_back(b->PseudoLocation(kStackCutFrame));  // Not even one caller was walked.
  }
  if (out->empty()) out->push_back(b->PseudoLocation(kThreadRootFrame));
}

void AddSetLabels(uint32_t set, ProfileBuilder* b, pprof::Sample* sample) {
  const instrument::LabelPairs* pairs = instrument::LabelSetById(set);
  if (pairs == nullptr) return;
  for (const auto& [key, value] : *pairs) {
    auto* l = sample->add_label();
    l->set_key(b->Intern(key));
    l->set_str(b->Intern(value));
  }
}

void AddNodeLabels(const instrument::ThreadState* s, uint32_t node, ProfileBuilder* b,
                   pprof::Sample* sample) {
  AddSetLabels(LabelSetOfNode(s, node), b, sample);
}

}  // namespace runtime
}  // namespace hookprof
