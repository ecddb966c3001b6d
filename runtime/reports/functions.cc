#include "runtime/reports/functions.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "instrument/thread_state.h"
#include "instrument/xray.h"
#include "re2/re2.h"
#include "runtime/core/json.h"
#include "runtime/core/snapshot.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {
namespace {

constexpr char kCompilerHooks[] =
    "the compiler's -finstrument-functions hooks cannot be switched per function at run time "
    "yet (XRay builds can: --config=xray); use an exclusion list (docs/fewer-hooks.md)";

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
    list.backend = calls.empty() ? "none" : "compiler hooks";
    list.not_switchable =
        calls.empty() ? "no function hook has run in this program" : kCompilerHooks;
    for (const auto& [fn, n] : calls) list.rows.push_back({symbols->NameOf(fn), fn, true, n});
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
  if (xray == 0 || !instrument::XRayCanSwitchFunctions()) {
    *error = xray == 0 ? kCompilerHooks : "this XRay runtime cannot patch one function";
    return false;
  }
  const auto symbols = Symbolizer::Current();
  for (size_t id = 1; id <= xray; ++id) {
    if (instrument::XRayFunctionHooked(id) == hooked) continue;
    if (!RE2::PartialMatch(symbols->NameOf(instrument::XRayFunctionAddress(id)), re)) continue;
    if (!instrument::SetXRayFunctionHooked(id, hooked)) {
      *error = "XRay refused to patch " + symbols->NameOf(instrument::XRayFunctionAddress(id));
      return false;
    }
    ++*changed;
  }
  return true;
}

bool HookAllFunctions(size_t* changed, std::string* error) {
  return SwitchFunctions("", true, changed, error);
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
    s += ",\"unhooked\":" + std::to_string(unhooked) + ",\"functions\":[";
    for (size_t i = 0; i < list.rows.size(); ++i) {
      const FunctionRow& r = list.rows[i];
      s += (i == 0 ? "" : ",");
      s += "{\"name\":\"" + JsonEscape(r.name) + "\",\"calls\":" + std::to_string(r.calls) +
           ",\"hooked\":" + (r.hooked ? "true" : "false") + "}";
    }
    return s + "]}\n";
  }
  std::string s = "backend: " + list.backend + "\n";
  s += "switchable: " +
       (list.not_switchable.empty() ? std::string("yes") : "no: " + list.not_switchable) + "\n";
  s += std::to_string(list.rows.size()) + " functions, " + std::to_string(unhooked) + " unhooked\n";
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
