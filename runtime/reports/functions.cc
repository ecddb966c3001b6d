#include "runtime/reports/functions.h"

#include <time.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "instrument/call_sites.h"
#include "instrument/code_bytes.h"
#include "instrument/cpu_sampler.h"
#include "instrument/hook_cost.h"
#include "instrument/thread_state.h"
#include "instrument/unwind.h"
#include "instrument/xray.h"
#include "re2/re2.h"
#include "runtime/core/json.h"
#include "runtime/core/snapshot.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {
namespace {

// Who switched each unhooked function off and when, and which functions users pinned.
struct Switches {
  std::mutex mu;
  struct Off {
    SwitchedBy by;
    time_t at;
  };
  std::unordered_map<uintptr_t, Off> off;
  std::unordered_set<uintptr_t> pinned;
};

Switches& GetSwitches() {
  static auto* s = new Switches;  // Never destroyed: threads may switch during exit.
  return *s;
}

const char* NameOf(SwitchedBy by) {
  switch (by) {
    case SwitchedBy::kUser:
      return "user";
    case SwitchedBy::kStartOption:
      return "HOOKPROF_UNHOOK";
    case SwitchedBy::kExclusions:
      return "exclusions";
    case SwitchedBy::kBudget:
      return "budget";
  }
  return "";
}

std::string Fixed(double v, int decimals) {
  char out[32];
  snprintf(out, sizeof(out), "%.*f", decimals, v);
  return out;
}

std::string IsoTime(time_t t) {
  tm utc;
  gmtime_r(&t, &utc);
  char out[32];
  strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return out;
}

// Notes a switch: `changed` are the functions it changed, `asked` those it was asked to switch
// (a user's pins hold for those that were already as asked too).
void NoteSwitch(const std::vector<uintptr_t>& changed, const std::vector<uintptr_t>& asked,
                bool hooked, SwitchedBy by) {
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  const time_t now = time(nullptr);
  for (uintptr_t fn : changed) {
    if (hooked) {
      sw.off.erase(fn);
    } else {
      sw.off[fn] = {by, now};
    }
  }
  if (by == SwitchedBy::kBudget) return;
  for (uintptr_t fn : asked) {
    if (hooked) {
      sw.pinned.insert(fn);
    } else {
      sw.pinned.erase(fn);
    }
  }
}

// The functions switched off now, with either backend.
std::vector<uintptr_t> UnhookedNow() {
  std::vector<uintptr_t> fns;
  if (const size_t xray = instrument::XRayFunctions(); xray != 0) {
    for (size_t id = 1; id <= xray; ++id) {
      if (!instrument::XRayFunctionHooked(id)) fns.push_back(instrument::XRayFunctionAddress(id));
    }
    return fns;
  }
  fns.resize(instrument::UnhookedFunctions(nullptr, 0) + 64);
  fns.resize(std::min(fns.size(), instrument::UnhookedFunctions(fns.data(), fns.size())));
  return fns;
}

// Why the compiler's hooks cannot be switched here, or nullptr if they can.
const char* CompilerHooksNotSwitchable() {
  const char* why = nullptr;
  return instrument::CanRemoveSites(&why) ? nullptr : why;
}

// Switches each of `fns` with the program's backend; `done` gets those that changed. The budget
// passes pinned functions over.
bool SwitchEach(const std::vector<uintptr_t>& fns, bool hooked, SwitchedBy by,
                std::vector<uintptr_t>* done, std::string* error) {
  std::unordered_set<uintptr_t> pinned;
  if (by == SwitchedBy::kBudget) {
    Switches& sw = GetSwitches();
    std::lock_guard<std::mutex> lock(sw.mu);
    pinned = sw.pinned;
  }
  const size_t xray = instrument::XRayFunctions();
  if (xray == 0) {
    if (const char* why = CompilerHooksNotSwitchable()) {
      *error = why;
      return false;
    }
    for (uintptr_t fn : fns) {
      if (instrument::FunctionUnhooked(fn) == !hooked || pinned.count(fn) != 0) continue;
      if (!instrument::SetFunctionUnhooked(fn, !hooked)) {
        *error = "too many functions switched off (65536 at most)";
        return false;
      }
      done->push_back(fn);
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
    if (it == ids.end() || instrument::XRayFunctionHooked(it->second) == hooked ||
        pinned.count(fn) != 0) {
      continue;
    }
    if (!instrument::SetXRayFunctionHooked(it->second, hooked)) {
      *error = "XRay refused to patch " + Symbolizer::Current()->NameOf(fn);
      return false;
    }
    done->push_back(fn);
  }
  return true;
}

struct Totals {
  uint64_t calls = 0;
  uint64_t samples = 0;  // CPU samples with the function on top (its own time).
};

// Calls and own CPU samples per function entry address over the whole run.
std::unordered_map<uintptr_t, Totals> TotalsByFunction() {
  std::unordered_map<uintptr_t, Totals> totals;
  const Snapshot now = Snapshot::Take();
  for (const ThreadSnapshot& t : now.threads) {
    for (uint32_t n = instrument::kOverflowNode + 1; n < t.calls.size(); ++n) {
      const uintptr_t fn = t.state->nodes[n].fn;
      const uint64_t samples = n < t.samples.size() ? t.samples[n] : 0;
      if ((t.calls[n] | samples) == 0 || instrument::IsLabelFn(fn) || instrument::IsUnwound(fn)) {
        continue;
      }
      Totals& f = totals[fn];
      f.calls += t.calls[n];
      f.samples += samples;
    }
  }
  return totals;
}

// The functions with compiler hooks that a pattern can switch: those met so far, those switched
// off, and every function whose code calls the enter hook (not met yet).
std::vector<uintptr_t> SwitchableFunctions(const Symbolizer& symbols,
                                           const std::unordered_map<uintptr_t, Totals>& met) {
  std::vector<uintptr_t> fns;
  for (const auto& [fn, totals] : met) {
    if (totals.calls != 0) fns.push_back(fn);
  }
  const std::vector<uintptr_t> off = UnhookedNow();
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

}  // namespace

FunctionList ListFunctions() {
  FunctionList list;
  const auto symbols = Symbolizer::Current();
  std::unordered_map<uintptr_t, Totals> totals = TotalsByFunction();
  const size_t xray = instrument::XRayFunctions();
  if (xray != 0) {
    list.backend = "xray";
    if (!instrument::XRayCanSwitchFunctions()) {
      list.not_switchable = "this XRay runtime cannot patch one function (compiler-rt < 14)";
    }
    for (size_t id = 1; id <= xray; ++id) {
      const uintptr_t fn = instrument::XRayFunctionAddress(id);
      FunctionRow row{symbols->NameOf(fn), fn, instrument::XRayFunctionHooked(id)};
      const auto t = totals.find(fn);
      if (t != totals.end()) row.calls = t->second.calls;
      list.rows.push_back(row);
    }
  } else {
    std::unordered_map<uintptr_t, uint64_t> calls;
    for (const auto& [fn, t] : totals) {
      if (t.calls != 0) calls[fn] = t.calls;  // Functions with hooks: those with calls.
    }
    for (uintptr_t fn : UnhookedNow()) calls.emplace(fn, 0);  // Off before their first call.
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
  list.hook_ns = instrument::HookNanos();
  const uint64_t period_ns = instrument::CpuSamplingPeriodNanos();
  for (FunctionRow& r : list.rows) {
    const auto t = totals.find(r.address);
    if (period_ns != 0 && r.calls != 0 && t != totals.end()) {
      r.own_ns = double(t->second.samples) * double(period_ns) / double(r.calls);
    }
    r.hook_ms = double(r.calls) * list.hook_ns / 1e6;
  }
  {
    Switches& sw = GetSwitches();
    std::lock_guard<std::mutex> lock(sw.mu);
    for (FunctionRow& r : list.rows) {
      r.pinned = sw.pinned.count(r.address) != 0;
      const auto off = sw.off.find(r.address);
      if (r.hooked || off == sw.off.end()) continue;
      r.off_by = NameOf(off->second.by);
      r.off_at = IsoTime(off->second.at);
    }
  }
  std::sort(list.rows.begin(), list.rows.end(), [](const FunctionRow& a, const FunctionRow& b) {
    return a.calls != b.calls ? a.calls > b.calls : a.name < b.name;
  });
  return list;
}

bool SwitchFunctions(const std::string& pattern, bool hooked, size_t* changed, std::string* error,
                     SwitchedBy by) {
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
    candidates = SwitchableFunctions(*symbols, TotalsByFunction());
  } else {
    for (size_t id = 1; id <= xray; ++id) candidates.push_back(instrument::XRayFunctionAddress(id));
  }
  std::vector<uintptr_t> matched;
  for (uintptr_t fn : candidates) {
    if (RE2::PartialMatch(symbols->NameOf(fn), re)) matched.push_back(fn);
  }
  return SwitchFunctionsAt(matched, hooked, changed, error, by);
}

bool SwitchFunctionsAt(const std::vector<uintptr_t>& fns, bool hooked, size_t* changed,
                       std::string* error, SwitchedBy by) {
  std::vector<uintptr_t> done;
  const bool ok = SwitchEach(fns, hooked, by, &done, error);
  *changed = done.size();
  NoteSwitch(done, fns, hooked, by);
  return ok;
}

bool FunctionPinned(uintptr_t fn) {
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  return sw.pinned.count(fn) != 0;
}

std::vector<uintptr_t> FunctionsOffBy(SwitchedBy by) {
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  std::vector<uintptr_t> fns;
  for (const auto& [fn, off] : sw.off) {
    if (off.by == by) fns.push_back(fn);
  }
  return fns;
}

std::string UnhookedComment() {
  const std::vector<uintptr_t> fns = UnhookedNow();
  if (fns.empty()) return "";
  const auto symbols = Symbolizer::Current();
  constexpr size_t kNamed = 20;
  std::string names;
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  for (size_t i = 0; i < fns.size() && i < kNamed; ++i) {
    names += (i == 0 ? "" : ", ") + symbols->NameOf(fns[i]);
    const auto off = sw.off.find(fns[i]);
    if (off != sw.off.end()) {
      names += std::string(" (") + NameOf(off->second.by) + ", " + IsoTime(off->second.at) + ")";
    }
  }
  if (fns.size() > kNamed) {
    names += " and " + std::to_string(fns.size() - kNamed) + " more (debug/hookprof/functions)";
  }
  return std::to_string(fns.size()) +
         " functions unhooked (their calls are not counted; their CPU samples stay at their "
         "PCs): " +
         names;
}

bool HookAllFunctions(size_t* changed, std::string* error) {
  bool ok = true;
  if (instrument::XRayFunctions() == 0) {
    *changed = instrument::HookAllFunctionsAgain();
  } else {
    std::vector<uintptr_t> done;
    ok = SwitchEach(UnhookedNow(), true, SwitchedBy::kUser, &done, error);
    *changed = done.size();
  }
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  sw.off.clear();
  return ok;
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
    s += ",\"unhooked\":" + std::to_string(unhooked) + ",\"hook_ns\":" + Fixed(list.hook_ns, 2);
    if (!list.sites.empty()) s += ",\"hook_calls\":\"" + JsonEscape(list.sites) + "\"";
    if (!list.budget_json.empty()) s += ",\"budget\":" + list.budget_json;
    s += ",\"functions\":[";
    for (size_t i = 0; i < list.rows.size(); ++i) {
      const FunctionRow& r = list.rows[i];
      s += (i == 0 ? "" : ",");
      s += "{\"name\":\"" + JsonEscape(r.name) + "\",\"calls\":" + std::to_string(r.calls) +
           ",\"hooked\":" + (r.hooked ? "true" : "false") +
           ",\"own_ns_per_call\":" + (r.own_ns < 0 ? std::string("null") : Fixed(r.own_ns, 1)) +
           ",\"hook_ms\":" + Fixed(r.hook_ms, 3);
      if (list.backend == "compiler hooks") {
        s += ",\"sites\":" + std::to_string(r.sites) +
             ",\"sites_removed\":" + std::to_string(r.sites_removed) +
             ",\"sites_left_alone\":" + std::to_string(r.sites_left_alone);
      }
      if (!r.off_by.empty()) {
        s += ",\"off_by\":\"" + r.off_by + "\",\"off_at\":\"" + r.off_at + "\"";
      }
      if (r.pinned) s += ",\"pinned\":true";
      s += "}";
    }
    return s + "]}\n";
  }
  std::string s = "backend: " + list.backend + "\n";
  s += "switchable: " +
       (list.not_switchable.empty() ? std::string("yes") : "no: " + list.not_switchable) + "\n";
  s += std::to_string(list.rows.size()) + " functions, " + std::to_string(unhooked) + " unhooked\n";
  if (!list.sites.empty()) s += list.sites + "\n";
  if (!list.budget.empty()) s += list.budget + "\n";
  s += list.hook_ns > 0 ? "a hooked call costs " + Fixed(list.hook_ns, 1) +
                              " ns in this mode (measured); hook ms = calls x that\n"
       : instrument::GetMode() == instrument::kModeOff
           ? std::string("hook ms: 0 (mode off: the hooks record nothing)\n")
           : std::string(
                 "hook ms: not known until timing mode has run once "
                 "(trace mode's own cost cannot be measured)\n");
  s += "         calls  state     own ns/call     hook ms  function\n";
  char line[128];
  for (const FunctionRow& r : list.rows) {
    snprintf(line, sizeof(line), "%14llu  %-8s  %11s  %10s  ",
             static_cast<unsigned long long>(r.calls),
             r.hooked ? (r.pinned ? "pinned" : "hooked") : "UNHOOKED",
             r.own_ns < 0 ? "-" : Fixed(r.own_ns, 1).c_str(), Fixed(r.hook_ms, 1).c_str());
    s += line + r.name;
    if (!r.off_by.empty()) s += "  [by " + r.off_by + ", " + r.off_at + "]";
    s += "\n";
  }
  return s;
}

}  // namespace runtime
}  // namespace hookprof
