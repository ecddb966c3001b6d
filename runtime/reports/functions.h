// The instrumented functions, hooked or not: what `<ctx>/debug/hookprof/functions` lists and
// switches, and what HOOKPROF_UNHOOK / HOOKPROF_HOOK apply at start.
//
// Per-function switching needs XRay (compiler-rt patches one function's sleds); the compiler's
// -finstrument-functions hooks are listed (the functions met so far) but not yet switchable.
//
// Thread-safety: any thread; switching is serialised inside the XRay backend.
#ifndef HOOKPROF_RUNTIME_REPORTS_FUNCTIONS_H_
#define HOOKPROF_RUNTIME_REPORTS_FUNCTIONS_H_

#include <stdint.h>

#include <string>
#include <vector>

namespace hookprof {
namespace runtime {

struct FunctionRow {
  std::string name;  // Demangled, else the address.
  uintptr_t address = 0;
  bool hooked = true;
  uint64_t calls = 0;  // Counted over the whole run, every thread.
};

struct FunctionList {
  // "xray", "compiler hooks" (functions met so far), or "none" (no hook has run).
  std::string backend;
  // Empty when functions can be switched; else why not (one line).
  std::string not_switchable;
  std::vector<FunctionRow> rows;  // Most calls first, then by name.
};

FunctionList ListFunctions();

// Switches the functions whose demangled name partially matches RE2 `pattern` off (`hooked`
// false) or on again; `*changed` says how many changed. False with a one-line reason for a bad
// pattern or a backend that cannot switch functions.
bool SwitchFunctions(const std::string& pattern, bool hooked, size_t* changed, std::string* error);
// Every function hooked again.
bool HookAllFunctions(size_t* changed, std::string* error);

// text: one row per function (calls, hooked, name); json: {"backend", "switchable", ...}.
std::string FormatFunctionList(const FunctionList& list, bool json);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_REPORTS_FUNCTIONS_H_
