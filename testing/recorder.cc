#include "hookprof/recorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "instrument/mode.h"
#include "instrument/samplers/contention.h"
#include "instrument/samplers/heap_sampler.h"
#include "instrument/state/thread_state.h"
#include "re2/re2.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/symbolizer.h"
#include "runtime/windows/windows.h"

namespace hookprof {
namespace testing {
namespace {

using runtime::Snapshot;
using runtime::Symbolizer;

void PrintProblem(const std::string& problem) {
  fprintf(stderr, "hookprof::testing: %s\n", problem.c_str());
}

std::atomic<ProblemHandler> g_handler{&PrintProblem};

// What the recorders changed, put back by the last one to end.
struct Raised {
  std::mutex mu;
  int recorders = 0;
  bool mode_raised = false;
  instrument::Mode mode_before = instrument::kModeOff;
  int64_t heap_rate_before = 0;
  int64_t mutex_fraction_before = 0;
};
Raised& raised() {
  static Raised* r = new Raised;
  return *r;
}

void Raise() {
  Raised& r = raised();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.recorders++ != 0) return;
  r.mode_before = instrument::GetMode();
  r.mode_raised = r.mode_before == instrument::kModeOff;
  if (r.mode_raised) instrument::SetMode(instrument::kModeProfile);
  r.heap_rate_before = instrument::HeapSampleRate();
  instrument::SetHeapSampleRate(1);
  r.mutex_fraction_before = instrument::MutexProfileFraction();
  instrument::SetMutexProfileFraction(1);
}

void Lower() {
  Raised& r = raised();
  std::lock_guard<std::mutex> lock(r.mu);
  if (--r.recorders != 0) return;
  // Someone else's choice made meanwhile stays.
  if (r.mode_raised && instrument::GetMode() == instrument::kModeProfile) {
    instrument::SetMode(r.mode_before);
  }
  if (instrument::HeapSampleRate() == 1) instrument::SetHeapSampleRate(r.heap_rate_before);
  if (instrument::MutexProfileFraction() == 1) {
    instrument::SetMutexProfileFraction(r.mutex_fraction_before);
  }
}

// Counts per call path, grouped by the path's names.
class PathCounts {
 public:
  explicit PathCounts(const Symbolizer& symbols) : symbols_(symbols) {}
  // `stack` leaf first; `site_first`: its first address is a call site inside the function
  // of the second (an allocation's), which is then named once.
  void Add(const std::vector<uintptr_t>& stack, uint64_t n, bool site_first) {
    std::string path, previous;
    for (size_t i = 0; i < stack.size(); ++i) {
      const std::string& name = NameOf(stack[i]);
      if (i == 1 && site_first && name == previous) continue;
      if (!path.empty()) path += " <- ";
      path += name;
      previous = name;
    }
    counts_[path.empty() ? "[thread root]" : path] += n;
  }
  void Into(Count* c) const {
    for (const auto& [path, n] : counts_) c->paths.push_back({path, n});
    std::stable_sort(c->paths.begin(), c->paths.end(),
                     [](const PathCount& a, const PathCount& b) { return a.count > b.count; });
  }

 private:
  const std::string& NameOf(uintptr_t pc) {
    auto it = names_.find(pc);
    if (it == names_.end()) {
      it = names_.emplace(pc, runtime::WithoutParameters(symbols_.NameOf(pc))).first;
    }
    return it->second;
  }
  const Symbolizer& symbols_;
  std::map<std::string, uint64_t> counts_;
  std::unordered_map<uintptr_t, std::string> names_;
};

// "acme::Max<int>" -> "acme::Max" (every template argument list left out).
std::string WithoutTemplateArguments(const std::string& name) {
  std::string out;
  int depth = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name.compare(i, 8, "operator") == 0) {  // operator<, operator<<, operator->
      size_t j = i + 8;
      while (j < name.size() && strchr("<>=-", name[j]) != nullptr) ++j;
      if (depth == 0) out.append(name, i, j - i);
      i = j - 1;
      continue;
    }
    if (name[i] == '<') ++depth;
    if (depth == 0) out += name[i];
    if (name[i] == '>' && depth > 0) --depth;
  }
  return out;
}

// The unqualified name, for a cheap first test of a symbol: "acme::Max<int>(int)" -> "Max".
std::string Unqualified(std::string name) {
  name.resize(std::min(name.find('('), name.size()));
  name.resize(std::min(name.find('<'), name.size()));
  const size_t colon = name.rfind("::");
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

void Report(const Count& c) {
  if (!c.problem.empty()) g_handler.load()(c.problem);
}

}  // namespace

std::string Count::Describe(size_t max_paths) const {
  std::string s = std::to_string(count) + " " + what;
  if (!problem.empty()) s += " (" + problem + ")";
  for (size_t i = 0; i < paths.size() && i < max_paths; ++i) {
    s += i == 0 ? ": " : ", ";
    s += std::to_string(paths[i].count) + " x via " + paths[i].path;
  }
  if (paths.size() > max_paths) s += ", and " + std::to_string(paths.size() - max_paths) + " more";
  return s;
}

void SetProblemHandler(ProblemHandler handler) {
  g_handler.store(handler != nullptr ? handler : &PrintProblem);
}

// Everything a recorder counts, as it is at one moment.
struct Marks {
  Snapshot calls;
  std::vector<instrument::HeapBucket> heap;
  uint64_t heap_dropped = 0;
  std::vector<instrument::ContentionBucket> mutex;
  uint64_t mutex_dropped = 0;

  static Marks Take() {
    Marks m;
    m.heap = instrument::HeapBuckets();
    m.heap_dropped = instrument::HeapDroppedSamples();
    m.mutex = instrument::ContentionBuckets(instrument::Contention::kMutex);
    m.mutex_dropped = instrument::ContentionDropped(instrument::Contention::kMutex);
    m.calls = Snapshot::Take();
    return m;
  }
};

struct Recorder::State {
  Threads threads;
  const instrument::ThreadState* owner = nullptr;
  Marks begin;
  bool stopped = false;
  Marks end;  // Once stopped.

  Marks Now() const { return stopped ? end : Marks::Take(); }
  bool Counts(const instrument::ThreadState* s) const {
    return threads == kAllThreads || s == owner;
  }
  // Calls since `begin` of the functions `matches` accepts (by entry address).
  Count CallsOf(const std::string& what, const std::function<bool(uintptr_t)>& matches) const;
  // Allocations (or their bytes), and contended mutex acquisitions, since `begin`.
  Count HeapCount(bool bytes) const;
  Count Contentions() const;
};

Recorder::Recorder(Threads threads) : state_(new State) {
  instrument::ScopedGuard guard;
  state_->threads = threads;
  state_->owner = instrument::CurrentThreadState();
  Raise();
  state_->begin = Marks::Take();
}

Recorder::~Recorder() { Stop(); }

void Recorder::Stop() {
  instrument::ScopedGuard guard;
  if (state_->stopped) return;
  state_->end = Marks::Take();
  state_->stopped = true;
  Lower();
}

Count Recorder::State::CallsOf(const std::string& what,
                               const std::function<bool(uintptr_t)>& matches) const {
  const Snapshot delta = Snapshot::Delta(begin.calls, Now().calls);
  const auto symbols = Symbolizer::Current();
  PathCounts paths(*symbols);
  Count c;
  c.what = what;
  std::unordered_map<uintptr_t, bool> matched;
  uint64_t lost = 0;
  for (const runtime::ThreadSnapshot& t : delta.threads) {
    if (!Counts(t.state)) continue;
    for (uint32_t n = 0; n < t.calls.size(); ++n) {
      if (t.calls[n] == 0 || n == instrument::kRootNode) continue;
      if (n == instrument::kOverflowNode) {
        lost += t.calls[n];
        continue;
      }
      const uintptr_t fn = t.state->nodes[n].fn;
      if (instrument::IsLabelFn(fn)) continue;
      auto it = matched.find(fn);
      if (it == matched.end()) it = matched.emplace(fn, matches(fn)).first;
      if (!it->second) continue;
      c.count += t.calls[n];
      paths.Add(runtime::EventStack(t.state, n, 0), t.calls[n], false);
    }
  }
  paths.Into(&c);
  if (lost != 0) {
    c.problem = std::to_string(lost) +
                " calls were on call paths past the node table and are not attributed";
  } else if (c.count == 0 && !Snapshot::Take().HasCalls()) {
    c.problem =
        "no function hook has run in this program: build it with "
        "--config=instrumented (or -finstrument-functions, or XRay)";
  }
  return c;
}

Count Recorder::Calls(const std::string& name) const {
  instrument::ScopedGuard guard;
  const auto symbols = Symbolizer::Current();
  const bool whole = name.find('(') != std::string::npos && name.back() != ']';
  const bool with_arguments = name.find('<') != std::string::npos;
  auto names_it = [&](const std::string& demangled) {
    if (whole) return demangled == name;
    const std::string base = runtime::WithoutParameters(demangled);
    return base == name || (!with_arguments && WithoutTemplateArguments(base) == name);
  };
  Count c = state_->CallsOf("calls of " + name, [&](uintptr_t fn) {
    const runtime::Symbol* s = symbols->FindSymbol(fn);
    return s != nullptr && names_it(s->name);
  });
  // No call: is there such a function at all? (Only then: a scan of every symbol.)
  bool known = c.count != 0;
  const std::string key = Unqualified(name);
  for (size_t i = 0; !known && i < symbols->symbols().size(); ++i) {
    const std::string& demangled = symbols->symbols()[i].name;
    known = demangled.find(key) != std::string::npos && names_it(demangled);
  }
  if (!known && c.problem.empty()) {
    c.problem = "no function of the program is named '" + name +
                "' (misspelt? or inlined into every caller: clang hooks after inlining)";
  }
  Report(c);
  return c;
}

Count Recorder::CallsMatching(const std::string& pattern) const {
  instrument::ScopedGuard guard;
  const RE2 re(pattern, RE2::Quiet);
  Count c;
  if (!re.ok()) {
    c.what = "calls matching " + pattern;
    c.problem = "bad pattern '" + pattern + "': " + re.error();
  } else {
    const auto symbols = Symbolizer::Current();
    c = state_->CallsOf("calls matching " + pattern,
                        [&](uintptr_t fn) { return RE2::PartialMatch(symbols->NameOf(fn), re); });
  }
  Report(c);
  return c;
}

Count Recorder::CallsAt(const void* function) const {
  instrument::ScopedGuard guard;
  const auto symbols = Symbolizer::Current();
  const uintptr_t address = reinterpret_cast<uintptr_t>(function);
  const runtime::Symbol* target = symbols->FindSymbol(address);
  Count c = state_->CallsOf("calls of " + symbols->NameOf(address), [&](uintptr_t fn) {
    return fn == address || (target != nullptr && symbols->FindSymbol(fn) == target);
  });
  Report(c);
  return c;
}

Count Recorder::State::HeapCount(bool bytes) const {
  Count c;
  c.what = bytes ? "bytes allocated" : "allocations";
  if (!instrument::HeapSamplerActive()) {
    c.problem = "allocations are not counted in this build: its sanitizer owns malloc";
    return c;
  }
  const Marks now = Now();
  const std::vector<instrument::HeapBucket>& end = now.heap;
  const std::vector<instrument::HeapBucket>& heap_begin = begin.heap;
  const auto symbols = Symbolizer::Current();
  PathCounts paths(*symbols);
  for (size_t i = 0; i < end.size(); ++i) {  // Buckets keep their index: the table only grows.
    const instrument::HeapBucket& e = end[i];
    if (!Counts(e.state)) continue;
    uint64_t n = bytes ? e.sampled_alloc_bytes : e.sampled_alloc_objects;
    if (i < heap_begin.size()) {
      n -= bytes ? heap_begin[i].sampled_alloc_bytes : heap_begin[i].sampled_alloc_objects;
    }
    if (n == 0) continue;
    c.count += n;
    paths.Add(runtime::EventStack(e.state, e.node, e.call_site), n, e.call_site != 0);
  }
  paths.Into(&c);
  const uint64_t dropped = now.heap_dropped - begin.heap_dropped;
  if (dropped != 0) {
    c.problem = std::to_string(dropped) + " allocations were not recorded (a table was full)";
  }
  return c;
}

Count Recorder::State::Contentions() const {
  Count c;
  c.what = "contended mutex acquisitions";
  const Marks now = Now();
  const auto& end = now.mutex;
  const auto& mutex_begin = begin.mutex;
  const auto symbols = Symbolizer::Current();
  PathCounts paths(*symbols);
  for (size_t i = 0; i < end.size(); ++i) {
    const instrument::ContentionBucket& e = end[i];
    if (!Counts(e.key.state)) continue;
    double n = e.count - (i < mutex_begin.size() ? mutex_begin[i].count : 0);
    const uint64_t events = static_cast<uint64_t>(n + 0.5);
    if (events == 0) continue;
    c.count += events;
    paths.Add(runtime::EventStack(e.key.state, e.key.node, e.key.call_site), events,
              e.key.call_site != 0);
  }
  paths.Into(&c);
  const uint64_t dropped = now.mutex_dropped - begin.mutex_dropped;
  if (dropped != 0) {
    c.problem = std::to_string(dropped) + " contentions were not recorded (a table was full)";
  }
  return c;
}

Count Recorder::Allocations() const {
  instrument::ScopedGuard guard;
  Count c = state_->HeapCount(false);
  Report(c);
  return c;
}

Count Recorder::AllocatedBytes() const {
  instrument::ScopedGuard guard;
  Count c = state_->HeapCount(true);
  Report(c);
  return c;
}

Count Recorder::Contentions() const {
  instrument::ScopedGuard guard;
  Count c = state_->Contentions();
  Report(c);
  return c;
}

bool Recorder::CountsAllocations() { return instrument::HeapSamplerActive(); }

std::string Recorder::Profile() const {
  instrument::ScopedGuard guard;
  runtime::CpuWindow window;
  window.begin = state_->begin.calls;
  const Snapshot end = state_->Now().calls;
  window.duration_nanos = end.time_nanos - window.begin.time_nanos;
  window.delta = Snapshot::Delta(window.begin, end);
  auto& threads = window.delta.threads;
  threads.erase(
      std::remove_if(threads.begin(), threads.end(),
                     [&](const runtime::ThreadSnapshot& t) { return !state_->Counts(t.state); }),
      threads.end());
  runtime::ProfileBuilder builder(Symbolizer::Current());
  window.Build(&builder);
  return builder.Finish();
}

std::string Recorder::WriteProfile(const std::string& name) const {
  instrument::ScopedGuard guard;
  const char* dir = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const bool in_dir = dir != nullptr && *dir != '\0' && name.compare(0, 1, "/") != 0;
  const std::string path = (in_dir ? std::string(dir) + "/" : "") + name;
  const std::string bytes = Profile();
  FILE* f = fopen(path.c_str(), "wb");
  bool ok = f != nullptr && fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (f != nullptr && fclose(f) != 0) ok = false;
  if (ok) return path;
  Count c;
  c.problem = "cannot write the recorder's profile to " + path;
  Report(c);
  return "";
}

}  // namespace testing
}  // namespace hookprof
