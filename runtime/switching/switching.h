// Switching instrumented functions' hooks off and on at run time, with either backend, and the
// record of who switched what and when: the functions endpoint, HOOKPROF_UNHOOK/HOOKPROF_HOOK,
// the exclusions report's "apply" and the cost budget all switch through here.
//
// XRay: compiler-rt patches one function's sleds. The compiler's -finstrument-functions hooks:
// the hook calls are taken out of the code and put back (instrument/patching/call_sites.h).
//
// Thread-safety: any thread; switching is serialised inside each backend.
#ifndef HOOKPROF_RUNTIME_SWITCHING_SWITCHING_H_
#define HOOKPROF_RUNTIME_SWITCHING_SWITCHING_H_

#include <stdint.h>

#include <string>
#include <vector>

namespace hookprof {
namespace runtime {

// Who switches: a user's switches are kept (a function a user hooks is pinned: the budget never
// takes it out; one a user unhooks is no longer pinned); the budget's are its own.
enum class SwitchedBy { kUser, kStartOption, kExclusions, kBudget };

// "user", "HOOKPROF_UNHOOK", "exclusions", "budget".
const char* SwitchedByName(SwitchedBy by);

// Switches the functions at these entry addresses off (`hooked` false) or on again; `*changed`
// says how many changed. False with a one-line reason for a backend that cannot switch
// functions. The budget passes pinned functions over.
bool SwitchFunctionsAt(const std::vector<uintptr_t>& fns, bool hooked, size_t* changed,
                       std::string* error, SwitchedBy by = SwitchedBy::kUser);
// Every function hooked again (pins stay).
bool HookAllFunctions(size_t* changed, std::string* error);

// Whether a user asked to keep the function at `fn` hooked.
bool FunctionPinned(uintptr_t fn);
// The functions `by` switched off (the budget's, to hook again when the budget changes).
std::vector<uintptr_t> FunctionsOffBy(SwitchedBy by);

// What is known of one function's switches: pinned, and for one switched off, by whom and when
// (UTC, ISO 8601; empty for one switched off by compiler-rt or an earlier process).
struct SwitchRecord {
  bool pinned = false;
  std::string off_by, off_at;
};
SwitchRecord SwitchRecordOf(uintptr_t fn);

// The functions switched off now, with either backend.
std::vector<uintptr_t> UnhookedNow();

// Why the compiler's hooks cannot be switched here (one line), or nullptr if they can.
const char* CompilerHooksNotSwitchable();

// For profiles: which functions are unhooked, by whom and since when (their calls are not
// counted; their CPU samples still land at their PCs); empty when none is.
std::string UnhookedComment();

// The compiler's hook calls in one line: how many are out of the code now (`off`, switched-off
// functions), or that they are kept in place and why. Empty when none is out, and under XRay.
std::string HookCallsState();

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_SWITCHING_SWITCHING_H_
