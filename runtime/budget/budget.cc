#include "runtime/budget/budget.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "instrument/cost/hook_cost.h"
#include "instrument/state/thread_state.h"
#include "runtime/core/json.h"
#include "runtime/reports/exclusions.h"
#include "runtime/switching/switching.h"
#include "runtime/windows/windows.h"

namespace hookprof {
namespace runtime {
namespace {

constexpr int64_t kCheckNanos = 1000000000;
// The first check after the budget is set: a program started with one is over it from its
// first calls, and a second at full cost is what the budget is there to avoid.
constexpr int64_t kFirstCheckNanos = 250000000;
// Taken out until the hooks are under this share of the budget, so that the next check, with
// its own noise, does not find it over again.
constexpr double kTargetShare = 0.8;

struct State {
  std::mutex mu;
  std::condition_variable cv;
  int percent = 0;
  uint64_t generation = 0;  // Each SetHookBudget: a check under way is abandoned.
  bool started = false;
  BudgetState last;
};

State& GetState() {
  static auto* s = new State;  // Never destroyed: the thread runs until the process ends.
  return *s;
}

// fork() keeps the state but not the thread: a child that sets a budget starts its own, and
// the lock is not held across the fork by the parent's thread.
void BeforeFork() { GetState().mu.lock(); }
void AfterForkInParent() { GetState().mu.unlock(); }
void AfterForkInChild() {
  State& st = GetState();
  st.started = false;
  st.percent = 0;
  st.mu.unlock();
}

double ProcessCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

// The functions to switch off, from a second's calls and own CPU: least own time per call first
// (the hook tells least there), then most calls; enough to save `excess_ns` of hook time.
std::vector<uintptr_t> Choose(std::vector<ExcludedFunction> fns, double excess_ns) {
  std::sort(fns.begin(), fns.end(), [](const ExcludedFunction& a, const ExcludedFunction& b) {
    const double ra = a.self_ns / double(a.calls), rb = b.self_ns / double(b.calls);
    return ra != rb ? ra < rb : a.calls > b.calls;
  });
  std::vector<uintptr_t> chosen;
  double saved = 0;
  for (const ExcludedFunction& f : fns) {
    if (saved >= excess_ns) break;
    if (FunctionPinned(f.fn)) continue;
    chosen.push_back(f.fn);
    saved += f.saving_ns;
  }
  return chosen;
}

// One check: false if the budget changed meanwhile (the check is dropped).
bool Check(State& st, std::unique_lock<std::mutex>& lock) {
  const uint64_t generation = st.generation;
  const int percent = st.percent;
  const instrument::Mode mode = instrument::GetMode();
  std::string note;
  lock.unlock();
  double hook_ns = instrument::HookNanos();
  lock.lock();
  if (mode == instrument::kModeOff) {
    note = "mode off: nothing is hooked";
  } else if (hook_ns == 0) {  // Trace mode before timing mode was ever measured.
    hook_ns = ExclusionParams{}.hook_ns;
    note = "trace mode: the cost of a call is assumed, not measured";
  }
  CpuWindow window = CpuWindow::Open();
  const double cpu_begin = ProcessCpuNanos();
  st.cv.wait_for(lock,
                 std::chrono::nanoseconds(st.last.checks == 0 ? kFirstCheckNanos : kCheckNanos),
                 [&] { return st.generation != generation; });
  if (st.generation != generation) return false;
  lock.unlock();
  window.Close();
  const double cpu_ns = ProcessCpuNanos() - cpu_begin;
  ExclusionParams params;
  params.min_calls = 1;
  params.max_self_ns = 1e300;
  params.hook_ns = hook_ns;
  const ExclusionReport report = ExclusionsOf(window, params, false);
  const double hook_time = double(report.calls) * hook_ns;
  const double share = cpu_ns > 0 ? 100 * hook_time / cpu_ns : 0;
  size_t changed = 0;
  if (mode != instrument::kModeOff && share > percent) {
    const double excess = hook_time - kTargetShare * percent / 100 * cpu_ns;
    std::string error;
    if (!SwitchFunctionsAt(Choose(report.functions, excess), false, &changed, &error,
                           SwitchedBy::kBudget)) {
      note = error;
    } else if (changed == 0) {
      note = "over budget, and every hooked function left is pinned or has no symbol";
    }
  }
  lock.lock();
  if (st.generation != generation) return false;
  BudgetState& last = st.last;
  last.hook_ns = hook_ns;
  last.share = share;
  last.calls_per_s = double(report.calls) * 1e9 / double(window.duration_nanos);
  ++last.checks;
  last.note = note;
  return true;
}

void Loop() {
  instrument::MarkCurrentThreadInternal();
  pthread_setname_np(pthread_self(), "hookprof-budget");
  State& st = GetState();
  std::unique_lock<std::mutex> lock(st.mu);
  for (;;) {
    st.cv.wait(lock, [&] { return st.percent != 0; });
    Check(st, lock);
  }
}

}  // namespace

bool SetHookBudget(int percent, std::string* error) {
  if (percent < 0 || percent > 100) {
    *error = "a budget is a percentage of the program's CPU time, 0 to 100";
    return false;
  }
  size_t changed = 0;
  // The budget's own functions back first: it starts over from everything hooked.
  if (!SwitchFunctionsAt(FunctionsOffBy(SwitchedBy::kBudget), true, &changed, error,
                         SwitchedBy::kBudget)) {
    if (percent != 0) return false;
  }
  State& st = GetState();
  std::lock_guard<std::mutex> lock(st.mu);
  st.percent = percent;
  ++st.generation;
  st.last = BudgetState{};
  if (percent != 0 && !st.started) {
    static const bool fork_handlers =
        pthread_atfork(&BeforeFork, &AfterForkInParent, &AfterForkInChild) == 0;
    (void)fork_handlers;
    st.started = true;
    instrument::ProgramSignalsBlocked blocked;  // From the thread's first instruction.
    std::thread(&Loop).detach();
  }
  st.cv.notify_all();
  return true;
}

BudgetState HookBudget() {
  State& st = GetState();
  BudgetState state;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    state = st.last;
    state.percent = st.percent;
  }
  state.unhooked = FunctionsOffBy(SwitchedBy::kBudget).size();
  return state;
}

std::string BudgetLine(const BudgetState& s) {
  if (s.percent == 0) {
    return "budget: none (HOOKPROF_BUDGET_PERCENT, or POST budget=N: at most N % of the "
           "program's CPU for hooks)";
  }
  char line[512];
  if (s.checks == 0) {
    snprintf(line, sizeof(line), "budget: %d %% of the program's CPU for hooks; first check due",
             s.percent);
    return line;
  }
  snprintf(line, sizeof(line),
           "budget: %d %% of the program's CPU for hooks; last check: %.1f %% (%.0f calls/s at "
           "%.1f ns); %zu functions switched off by the budget%s%s",
           s.percent, s.share, s.calls_per_s, s.hook_ns, s.unhooked, s.note.empty() ? "" : "; ",
           s.note.c_str());
  return line;
}

std::string BudgetJson(const BudgetState& s) {
  char out[256];
  snprintf(out, sizeof(out),
           "{\"percent\":%d,\"checks\":%llu,\"share_percent\":%.3f,\"calls_per_second\":%.0f,"
           "\"hook_ns\":%.2f,\"unhooked\":%zu",
           s.percent, static_cast<unsigned long long>(s.checks), s.share, s.calls_per_s, s.hook_ns,
           s.unhooked);
  std::string json = out;
  if (!s.note.empty()) json += ",\"note\":\"" + JsonEscape(s.note) + "\"";
  return json + "}";
}

}  // namespace runtime
}  // namespace hookprof
