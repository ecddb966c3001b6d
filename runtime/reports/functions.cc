#include "runtime/reports/functions.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "instrument/call_sites.h"
#include "instrument/code_bytes.h"
#include "instrument/thread_state.h"
#include "instrument/xray.h"
#include "re2/re2.h"
#include "runtime/core/json.h"
#include "runtime/core/snapshot.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {
namespace {

// Why the compiler's hooks cannot be switched here, or nullptr if they can.
const char* CompilerHooksNotSwitchable() {
  const char* why = nullptr;
  return instrument::CanRemoveSites(&why) ? nullptr : why;
}

// The functions with compiler hooks that a pattern can switch: those met so far, those switched
// off, and every function whose code calls the enter hook (not met yet).
std::vector<uintptr_t> SwitchableFunctions(const Symbolizer& symbols,
                                           const std::unordered_map<uintptr_t, uint64_t>& met) {
  std::vector<uintptr_t> fns;
  for (const auto& [fn, calls] : met) fns.push_back(fn);
  std::vector<uintptr_t> off(instrument::UnhookedFunctions(nullptr, 0) + 64);
  off.resize(std::min(off.size(), instrument::UnhookedFunctions(off.data(), off.size())));
  fns.insert(fns.end(), off.begin(), off.end());
  for (const Symbol& s : symbols.symbols()) {
    if (met.count(s.address) == 0 && instrument::CallsEnterHook(s.address, s.size)) {
      fns.push_back(s.address);
    }
  }
  std::sort(fns.begin(), fns.end());
  fns.erase(std::unique(fns.begin(), fns.end()), fns.end());
  return fns;
}

// Calls per function entry address over the whole run.
std::unordered_map<uintptr_t, uint64_t> CallsByFunction() {
  std::unordered_map<uintptr_t, uint64_t> calls;
  const Snapshot now = Snapshot::Take();
  for (const ThreadSnapshot& t : now.threads) {
    for (uint32_t n = instrument::kOverflowNode + 1; n < t.calls.size(); ++n) {
      const uintptr_t fn = t.state->nodes[n].fn;
      if (t.calls[n] != 0 && !instrument::IsLabelFn(fn)) calls[fn] += t.calls[n];
    }
  }
  return calls;
}

}  // namespace

FunctionList ListFunctions() {
  FunctionList list;
  const auto symbols = Symbolizer::Current();
  std::unordered_map<uintptr_t, uint64_t> calls = CallsByFunction();
  const size_t xray = instrument::XRayFunctions();
  if (xray != 0) {
    list.backend = "xray";
    if (!instrument::XRayCanSwitchFunctions()) {
      list.not_switchable = "this XRay runtime cannot patch one function (compiler-rt < 14)";
    }
    for (size_t id = 1; id <= xray; ++id) {
      const uintptr_t fn = instrument::XRayFunctionAddress(id);
      list.rows.push_back({symbols->NameOf(fn), fn, instrument::XRayFunctionHooked(id), calls[fn]});
    }
  } else {
    std::vector<uintptr_t> off(instrument::UnhookedFunctions(nullptr, 0) + 64);
    off.resize(std::min(off.size(), instrument::UnhookedFunctions(off.data(), off.size())));
    for (uintptr_t fn : off) calls.emplace(fn, 0);  // Switched off before their first call.
    list.backend = calls.empty() ? "none" : "compiler hooks";
    const char* why = CompilerHooksNotSwitchable();
    list.not_switchable = calls.empty()    ? "no function hook has run in this program"
                          : why != nullptr ? why
                                           : "";
    for (const auto& [fn, n] : calls) {
      FunctionRow row{symbols->NameOf(fn), fn, !instrument::FunctionUnhooked(fn), n};
      instrument::SitesOf(fn, &row.sites, &row.sites_removed, &row.sites_left_alone);
      list.rows.push_back(row);
    }
    const instrument::SiteCounts sites = instrument::CountSites();
    list.sites = "hook calls met " + std::to_string(sites.sites) + ", removed now " +
                 std::to_string(sites.removed) +
                 "; left alone: " + std::to_string(sites.tail_calls) +
                 " exits reached by a jump, " + std::to_string(sites.unexpected) + " other code, " +
                 std::to_string(sites.untracked) + " past the table's end";
  }
  std::sort(list.rows.begin(), list.rows.end(), [](const FunctionRow& a, const FunctionRow& b) {
    return a.calls != b.calls ? a.calls > b.calls : a.name < b.name;
  });
  return list;
}

bool SwitchFunctions(const std::string& pattern, bool hooked, size_t* changed, std::string* error) {
  *changed = 0;
  const RE2 re(pattern, RE2::Quiet);
  if (!re.ok()) {
    *error = "bad pattern '" + pattern + "': " + re.error();
    return false;
  }
  const size_t xray = instrument::XRayFunctions();
  const auto symbols = Symbolizer::Current();
  std::vector<uintptr_t> candidates;
  if (xray == 0) {
    if (const char* why = CompilerHooksNotSwitchable()) {
      *error = why;
      return false;
    }
    candidates = SwitchableFunctions(*symbols, CallsByFunction());
  } else {
    for (size_t id = 1; id <= xray; ++id) candidates.push_back(instrument::XRayFunctionAddress(id));
  }
  std::vector<uintptr_t> matched;
  for (uintptr_t fn : candidates) {
    if (RE2::PartialMatch(symbols->NameOf(fn), re)) matched.push_back(fn);
  }
  return SwitchFunctionsAt(matched, hooked, changed, error);
}

bool SwitchFunctionsAt(const std::vector<uintptr_t>& fns, bool hooked, size_t* changed,
                       std::string* error) {
  *changed = 0;
  const size_t xray = instrument::XRayFunctions();
  if (xray == 0) {
    if (const char* why = CompilerHooksNotSwitchable()) {
      *error = why;
      return false;
    }
    for (uintptr_t fn : fns) {
      if (instrument::FunctionUnhooked(fn) == !hooked) continue;
      if (!instrument::SetFunctionUnhooked(fn, !hooked)) {
        *error = "too many functions switched off (65536 at most)";
        return false;
      }
      ++*changed;
    }
    return true;
  }
  if (!instrument::XRayCanSwitchFunctions()) {
    *error = "this XRay runtime cannot patch one function";
    return false;
  }
  std::unordered_map<uintptr_t, size_t> ids;
  for (size_t id = 1; id <= xray; ++id) ids.emplace(instrument::XRayFunctionAddress(id), id);
  for (uintptr_t fn : fns) {
    const auto it = ids.find(fn);
    if (it == ids.end() || instrument::XRayFunctionHooked(it->second) == hooked) continue;
    if (!instrument::SetXRayFunctionHooked(it->second, hooked)) {
      *error = "XRay refused to patch " + Symbolizer::Current()->NameOf(fn);
      return false;
    }
    ++*changed;
  }
  return true;
}

bool HookAllFunctions(size_t* changed, std::string* error) {
  if (instrument::XRayFunctions() == 0) {
    *changed = instrument::HookAllFunctionsAgain();
    return true;
  }
  return SwitchFunctions("", true, changed, error);
}

std::string HookCallsState() {
  if (instrument::XRayFunctions() != 0) return "";
  if (const char* why = CompilerHooksNotSwitchable()) return std::string("kept in place: ") + why;
  const instrument::SiteCounts sites = instrument::CountSites();
  if (sites.removed == 0) return "";
  return std::to_string(sites.removed) + " of " + std::to_string(sites.sites) +
         " met are out of the code now";
}

std::string FormatFunctionList(const FunctionList& list, bool json) {
  size_t unhooked = 0;
  for (const FunctionRow& r : list.rows) unhooked += r.hooked ? 0 : 1;
  if (json) {
    std::string s = "{\"backend\":\"" + list.backend +
                    "\",\"switchable\":" + (list.not_switchable.empty() ? "true" : "false");
    if (!list.not_switchable.empty()) {
      s += ",\"not_switchable\":\"" + JsonEscape(list.not_switchable) + "\"";
    }
    s += ",\"unhooked\":" + std::to_string(unhooked);
    if (!list.sites.empty()) s += ",\"hook_calls\":\"" + JsonEscape(list.sites) + "\"";
    s += ",\"functions\":[";
    for (size_t i = 0; i < list.rows.size(); ++i) {
      const FunctionRow& r = list.rows[i];
      s += (i == 0 ? "" : ",");
      s += "{\"name\":\"" + JsonEscape(r.name) + "\",\"calls\":" + std::to_string(r.calls) +
           ",\"hooked\":" + (r.hooked ? "true" : "false");
      if (list.backend == "compiler hooks") {
        s += ",\"sites\":" + std::to_string(r.sites) +
             ",\"sites_removed\":" + std::to_string(r.sites_removed) +
             ",\"sites_left_alone\":" + std::to_string(r.sites_left_alone);
      }
      s += "}";
    }
    return s + "]}\n";
  }
  std::string s = "backend: " + list.backend + "\n";
  s += "switchable: " +
       (list.not_switchable.empty() ? std::string("yes") : "no: " + list.not_switchable) + "\n";
  s += std::to_string(list.rows.size()) + " functions, " + std::to_string(unhooked) + " unhooked\n";
  if (!list.sites.empty()) s += list.sites + "\n";
  char line[64];
  for (const FunctionRow& r : list.rows) {
    snprintf(line, sizeof(line), "%14llu  %-8s  ", static_cast<unsigned long long>(r.calls),
             r.hooked ? "hooked" : "UNHOOKED");
    s += line + r.name + "\n";
  }
  return s;
}

}  // namespace runtime
}  // namespace hookprof
