// The instrumented functions, hooked or not: what `<ctx>/debug/hookprof/functions` lists, and
// the patterns it and HOOKPROF_UNHOOK / HOOKPROF_HOOK switch (through runtime/switching).
//
// XRay: every function with sleds. The compiler's -finstrument-functions hooks: the functions met
// so far and those switched off; a pattern switches those too whose code calls the enter hook but
// that have not run yet.
//
// Thread-safety: any thread; switching is serialised inside each backend.
#ifndef HOOKPROF_RUNTIME_REPORTS_FUNCTIONS_H_
#define HOOKPROF_RUNTIME_REPORTS_FUNCTIONS_H_

#include <stdint.h>

#include <string>
#include <vector>

#include "runtime/switching/switching.h"

namespace hookprof {
namespace runtime {

struct FunctionRow {
  std::string name;  // Demangled, else the address.
  uintptr_t address = 0;
  bool hooked = true;
  uint64_t calls = 0;  // Counted over the whole run, every thread.
  double own_ns = -1;  // Own CPU per call, from the CPU samples; -1 when sampling is off.
  double hook_ms = 0;  // What its calls' hooks cost: calls x the list's hook_ns.
  // Compiler hooks: the function's hook call sites met so far, and how many are out of the code.
  uint32_t sites = 0;
  uint32_t sites_removed = 0;
  uint32_t sites_left_alone = 0;  // See instrument/patching/call_sites.h.
  // Unhooked: who switched it off ("budget", "user", "HOOKPROF_UNHOOK", "exclusions") and
  // when (UTC, ISO 8601); empty for one switched off by a compiler-rt or an earlier process.
  std::string off_by, off_at;
  bool pinned = false;  // A user asked to keep it hooked: the budget leaves it.
};

struct FunctionList {
  // "xray", "compiler hooks" (functions met so far), or "none" (no hook has run).
  std::string backend;
  // Empty when functions can be switched; else why not (one line).
  std::string not_switchable;
  std::vector<FunctionRow> rows;  // Most calls first, then by name.
  // A hooked call's cost in the current mode (instrument/cost/hook_cost.h); 0 in off, and in trace
  // before timing mode was ever measured.
  double hook_ns = 0;
  // Compiler hooks: the hook call sites met, removed, and left alone (one line).
  std::string sites;
  // The cost budget's state (runtime/budget): one line, and the same as a JSON object; empty
  // when the caller has none to show.
  std::string budget, budget_json;
};

FunctionList ListFunctions();

// Switches the functions whose demangled name partially matches RE2 `pattern` off (`hooked`
// false) or on again (runtime/switching); `*changed` says how many changed. False with a one-line
// reason for a bad pattern or a backend that cannot switch functions.
bool SwitchFunctions(const std::string& pattern, bool hooked, size_t* changed, std::string* error,
                     SwitchedBy by = SwitchedBy::kUser);

// text: one row per function (calls, hooked, name); json: {"backend", "switchable", ...}.
std::string FormatFunctionList(const FunctionList& list, bool json);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_REPORTS_FUNCTIONS_H_
