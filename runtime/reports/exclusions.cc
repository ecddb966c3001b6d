#include "runtime/reports/exclusions.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <set>
#include <unordered_map>
#include <utility>

#include "instrument/unwind.h"
#include "runtime/symbols/source_lines.h"

namespace hookprof {
namespace runtime {
namespace {

// The demangler's spelling of builtin types, and GCC's in its printable names.
constexpr std::pair<const char*, const char*> kGccTypeNames[] = {
    {"unsigned long long", "long long unsigned int"},
    {"long long", "long long int"},
    {"unsigned long", "long unsigned int"},
    {"unsigned short", "short unsigned int"},
    {"long", "long int"},
    {"short", "short int"},
};

bool IsIdentifierChar(char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// `n` with the demangler's builtin type names spelt as GCC spells them ("long" as "long int").
std::string GccTypeNames(const std::string& n) {
  std::string out;
  for (size_t i = 0; i < n.size();) {
    bool replaced = false;
    if (i == 0 || !IsIdentifierChar(n[i - 1])) {
      for (const auto& [from, to] : kGccTypeNames) {
        const size_t len = strlen(from);
        if (n.compare(i, len, from) == 0 &&
            (i + len == n.size() || !IsIdentifierChar(n[i + len])) &&
            n.compare(i + len, 4, " int") != 0 && n.compare(i + len, 7, " double") != 0) {
          out += to;
          i += len;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += n[i++];
  }
  return out;
}

// What GCC's list can hold of a demangled name, when the DWARF does not give GCC's own. GCC
// matches substrings of its printable names (checked with GCC 12): the qualified name, class
// template arguments as the demangler spells them but builtin types in GCC's words
// ("ns::S<long int>::get"), "{anonymous}" for an anonymous namespace, without ABI tags
// ("[abi:cxx11]"), the return type or a function template's own arguments (a function
// template's name matches all its instantiations). Default template arguments cannot be told
// from the demangled name, so a class with one is spelt with all its arguments, which GCC's
// name does not hold: the DWARF's spelling (GccPrintableName) has them right.
std::string GccName(const std::string& name) {
  std::string n = name;
  for (size_t a; (a = n.find("(anonymous namespace)")) != std::string::npos;) {
    n.replace(a, 21, "{anonymous}");
  }
  const size_t call_operator = n.find("operator()");
  const size_t params = n.find('(', call_operator == std::string::npos ? 0 : call_operator + 10);
  if (params != std::string::npos) n.erase(params);
  for (size_t tag; (tag = n.find("[abi:")) != std::string::npos;) {
    const size_t end = n.find(']', tag);
    n.erase(tag, end == std::string::npos ? std::string::npos : end - tag + 1);
  }
  // A function template's own arguments end the name; its return type comes before it.
  const auto ends_with = [&n](const char* end) {
    const size_t len = strlen(end);
    return n.size() >= len && n.compare(n.size() - len, len, end) == 0;
  };
  if (!n.empty() && n.back() == '>' && !ends_with("operator>") && !ends_with("operator>>") &&
      !ends_with("operator->")) {
    int depth = 0;
    for (size_t i = n.size(); i-- > 0;) {
      depth += n[i] == '>' ? 1 : n[i] == '<' ? -1 : 0;
      if (depth == 0) {
        n.erase(i);
        break;
      }
    }
    int d = 0;
    size_t space = std::string::npos;
    for (size_t i = 0; i < n.size(); ++i) {
      d += n[i] == '<' ? 1 : n[i] == '>' ? -1 : 0;
      if (d == 0 && n[i] == ' ') space = i;
    }
    if (space != std::string::npos) n.erase(0, space + 1);
  }
  return GccTypeNames(n);
}

// GCC splits its list at commas but takes "\," as a comma of the name (checked with GCC 12).
std::string EscapeCommas(const std::string& n) {
  std::string out;
  for (char c : n) out += c == ',' ? std::string("\\,") : std::string(1, c);
  return out;
}

}  // namespace

ExclusionReport FindExclusions(const Snapshot& delta, int64_t window_ns, uint64_t period_ns,
                               const Symbolizer& symbolizer, const ExclusionParams& params) {
  struct Totals {
    uint64_t calls = 0;
    uint64_t samples = 0;
  };
  std::unordered_map<uintptr_t, Totals> by_fn;
  ExclusionReport report;
  report.window_ns = window_ns;
  for (const ThreadSnapshot& t : delta.threads) {
    if (t.state == nullptr) continue;
    // Node 0 is the root, node 1 the overflow node: neither is a function.
    for (size_t i = 2; i < t.calls.size(); ++i) {
      if (t.calls[i] == 0 && (i >= t.samples.size() || t.samples[i] == 0)) continue;
      const uint32_t fnode = FunctionNodeOf(t.state, static_cast<uint32_t>(i));  // Labels.
      if (fnode <= instrument::kOverflowNode) continue;
      if (instrument::IsUnwound(t.state->nodes[fnode].fn)) continue;  // A walked frame: no hook.
      Totals& f = by_fn[t.state->nodes[fnode].fn];
      f.calls += t.calls[i];
      f.samples += i < t.samples.size() ? t.samples[i] : 0;
      report.calls += t.calls[i];
    }
  }
  for (const auto& [fn, totals] : by_fn) {
    if (totals.calls < params.min_calls) continue;
    const double self_ns = double(totals.samples) * double(period_ns);
    if (self_ns / double(totals.calls) > params.max_self_ns) continue;
    const Symbol* sym = symbolizer.FindSymbol(fn);
    if (sym == nullptr) {
      ++report.unnamed;
      continue;
    }
    ExcludedFunction e;
    e.name = sym->name;
    e.mangled = sym->mangled;
    e.fn = fn;
    e.calls = totals.calls;
    e.self_ns = self_ns;
    e.saving_ns = double(totals.calls) * params.hook_ns;
    report.saving_ns += e.saving_ns;
    report.functions.push_back(std::move(e));
  }
  std::sort(report.functions.begin(), report.functions.end(),
            [](const ExcludedFunction& a, const ExcludedFunction& b) {
              return a.saving_ns != b.saving_ns ? a.saving_ns > b.saving_ns : a.name < b.name;
            });
  return report;
}

void SpellGccNames(const Symbolizer& symbolizer, ExclusionReport* report) {
  // Twice: on the second pass, a class whose DWARF lacks its template parameters is spelt from
  // what the other functions' types taught (see GccPrintableName).
  for (int pass = 0; pass < 2; ++pass) {
    for (ExcludedFunction& f : report->functions) f.gcc_name = GccPrintableName(symbolizer, f.fn);
  }
}

std::string GccExcludeFlag(const ExclusionReport& report) {
  std::string names;
  std::set<std::string> seen;  // Names without parameters or function template arguments repeat.
  for (const ExcludedFunction& f : report.functions) {
    const std::string n = EscapeCommas(f.gcc_name.empty() ? GccName(f.name) : f.gcc_name);
    if (n.empty() || !seen.insert(n).second) continue;
    names += (names.empty() ? "" : ",") + n;
  }
  return "-finstrument-functions-exclude-function-list=" + names;
}

std::string XrayAttrList(const ExclusionReport& report) {
  std::string out = "[never]\n";
  for (const ExcludedFunction& f : report.functions) out += "fun:" + f.mangled + "\n";
  return out;
}

std::string ExclusionText(const ExclusionReport& report, const ExclusionParams& params) {
  char line[512];
  std::string out;
  const double window_s = double(report.window_ns) / 1e9;
  snprintf(line, sizeof(line),
           "hookprof exclusions: functions with at least %llu calls in the window and at most "
           "%.0f ns of their own CPU per call; hooks taken at %.1f ns a call\n"
           "window %.1f s, %llu instrumented calls; the %zu functions below make %.0f ms of "
           "hook time (%.1f%% of one core)%s\n\n",
           static_cast<unsigned long long>(params.min_calls), params.max_self_ns, params.hook_ns,
           window_s, static_cast<unsigned long long>(report.calls), report.functions.size(),
           report.saving_ns / 1e6, window_s > 0 ? report.saving_ns / 1e9 / window_s * 100 : 0.0,
           report.unnamed != 0 ? "; more without a symbol, not listed" : "");
  out += line;
  out += "       calls   own ns/call   hook ms saved  function\n";
  for (const ExcludedFunction& f : report.functions) {
    snprintf(line, sizeof(line), "%12llu %13.1f %15.1f  ", static_cast<unsigned long long>(f.calls),
             f.self_ns / double(f.calls), f.saving_ns / 1e6);
    out += line + f.name + "\n";
  }
  out += "\nGCC (rebuild with):\n" + GccExcludeFlag(report) +
         "\n\nclang XRay (-fxray-attr-list=<this file>):\n" + XrayAttrList(report);
  return out;
}

}  // namespace runtime
}  // namespace hookprof
