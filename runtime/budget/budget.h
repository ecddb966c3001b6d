// The hooks' cost budget (HOOKPROF_BUDGET_PERCENT, POST <ctx>/debug/hookprof/functions?budget=N):
// at most N % of the program's CPU time goes to hooked calls. Every second (the first time a
// quarter of a second after the budget is set), a thread of hookprof's own counts the calls
// since the last check and prices them at the per-call cost measured in the current mode
// (instrument/cost/hook_cost.h). When that is over N % of the CPU the process used, it switches off
// the functions that tell least per hook (least own CPU per call first, as the exclusions
// report ranks them) until it is under 0.8 N, so that the next check's noise does not find it
// over again. A function a user pinned (POST hook=RE2, HOOKPROF_HOOK) is never taken out. A new
// budget (0 too) puts the budget's functions back first.
//
// Thread-safety: any thread.
#ifndef HOOKPROF_RUNTIME_BUDGET_BUDGET_H_
#define HOOKPROF_RUNTIME_BUDGET_BUDGET_H_

#include <stdint.h>

#include <string>

namespace hookprof {
namespace runtime {

// 0 < percent <= 100 starts (or changes) the budget; 0 ends it. False with a reason when the
// program's functions cannot be switched (the budget would have nothing to act with).
bool SetHookBudget(int percent, std::string* error);

struct BudgetState {
  int percent = 0;         // 0: no budget.
  double hook_ns = 0;      // Per hooked call in the mode of the last check; 0 before one.
  double share = 0;        // Hook time over the program's CPU time, in % (last check).
  double calls_per_s = 0;  // Hooked calls per second (last check).
  uint64_t checks = 0;
  size_t unhooked = 0;  // Functions the budget has switched off now.
  std::string note;     // Why the last check did nothing, if it did nothing it could have.
};
BudgetState HookBudget();

// One line for people, and a JSON object.
std::string BudgetLine(const BudgetState& state);
std::string BudgetJson(const BudgetState& state);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_BUDGET_BUDGET_H_
