// Which functions' hooks cost more than they tell: many calls, little time of their own per
// call. From a CPU window's exact calls and sampled self time, the functions to leave out of
// the instrumentation, as GCC's -finstrument-functions-exclude-function-list= and as an XRay
// attribute list (-fxray-attr-list=), with the hook time each exclusion saves.
//
// Thread-safety: pure functions of their arguments.
#ifndef HOOKPROF_RUNTIME_REPORTS_EXCLUSIONS_H_
#define HOOKPROF_RUNTIME_REPORTS_EXCLUSIONS_H_

#include <stdint.h>

#include <string>
#include <vector>

#include "runtime/core/snapshot.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {

struct ExclusionParams {
  uint64_t min_calls = 10000;  // In the window; fewer calls cost too little to matter.
  double max_self_ns = 50;     // Mean own CPU time per call at most this.
  double hook_ns = 10;         // What a call's hooks cost (README's benchmark: 6-12 ns).
};

struct ExcludedFunction {
  std::string name;     // Demangled.
  std::string mangled;  // As in the symbol table (XRay's lists match these).
  uintptr_t fn = 0;     // Entry address.
  // GCC's printable name, from the DWARF (see SpellGccNames); empty when that has too little, or
  // was not asked for, and the GCC list spells it from `name`.
  std::string gcc_name;
  uint64_t calls = 0;
  double self_ns = 0;    // Sampled own CPU time in the window.
  double saving_ns = 0;  // calls x hook_ns.
};

struct ExclusionReport {
  std::vector<ExcludedFunction> functions;  // Largest saving first.
  int64_t window_ns = 0;
  uint64_t calls = 0;    // All instrumented calls in the window.
  double saving_ns = 0;  // Of the listed functions together.
  size_t unnamed = 0;    // Candidates without a symbol (left out of the lists).
};

ExclusionReport FindExclusions(const Snapshot& delta, int64_t window_ns, uint64_t period_ns,
                               const Symbolizer& symbolizer, const ExclusionParams& params);

// Fills each function's gcc_name from the DWARF, for the outputs that show GCC's flag (reading
// the DWARF takes a while on large programs: XRay's list needs none of it).
void SpellGccNames(const Symbolizer& symbolizer, ExclusionReport* report);

// GCC's flag: the functions' names as GCC prints them (GCC matches substrings of those): from
// the DWARF when it has them, else from the demangled name; commas in them escaped ("\,").
std::string GccExcludeFlag(const ExclusionReport& report);
// An XRay attribute list: "[never]" and one "fun:<mangled name>" per function.
std::string XrayAttrList(const ExclusionReport& report);
// A table for people, then both lists.
std::string ExclusionText(const ExclusionReport& report, const ExclusionParams& params);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_REPORTS_EXCLUSIONS_H_
