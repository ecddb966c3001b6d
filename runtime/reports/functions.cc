#include "runtime/reports/functions.h"

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "instrument/cost/hook_cost.h"
#include "instrument/hooks.h"
#include "instrument/patching/call_sites.h"
#include "instrument/patching/code_bytes.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/state/thread_state.h"
#include "instrument/unwind.h"
#include "instrument/xray/xray.h"
#include "re2/re2.h"
#include "runtime/core/json.h"
#include "runtime/core/snapshot.h"
#include "runtime/switching/switching.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {
namespace {

std::string Fixed(double v, int decimals) {
  char out[32];
  snprintf(out, sizeof(out), "%.*f", decimals, v);
  return out;
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
  const uintptr_t enter_hook = instrument::CompilerHookAddress(instrument::SiteKind::kEnter);
  for (const Symbol& s : symbols.symbols()) {
    if (met.count(s.address) == 0 && instrument::CallsEnterHook(s.address, s.size, enter_hook)) {
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
  for (FunctionRow& r : list.rows) {
    SwitchRecord record = SwitchRecordOf(r.address);
    r.pinned = record.pinned;
    if (r.hooked) continue;
    r.off_by = std::move(record.off_by);
    r.off_at = std::move(record.off_at);
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
