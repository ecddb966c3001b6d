#include "runtime/trace/trace_filter.h"

#include <re2/re2.h>

#include "instrument/state/tsc.h"

namespace hookprof {
namespace runtime {
namespace {

// Filters come from the network: RE2 matches in time linear in the name, whatever the
// pattern, and both the pattern's length and its compiled size are bounded.
constexpr size_t kMaxRegexBytes = 256;
constexpr int64_t kMaxProgramBytes = 1 << 20;

RE2::Options MatcherOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(kMaxProgramBytes);
  return o;
}

std::unique_ptr<RE2> Compile(const std::string& pattern, std::string* reason) {
  if (pattern.size() > kMaxRegexBytes) {
    *reason =
        "invalid regular expression: longer than " + std::to_string(kMaxRegexBytes) + " bytes";
    return nullptr;
  }
  auto re = std::make_unique<RE2>(pattern, MatcherOptions());
  if (!re->ok()) {
    *reason = "invalid regular expression \"" + pattern + "\": " + re->error();
    return nullptr;
  }
  return re;
}

}  // namespace

bool ValidateTraceFilter(const TraceFilter& filter, std::string* reason) {
  for (const std::string* re : {&filter.include, &filter.exclude}) {
    if (!re->empty() && Compile(*re, reason) == nullptr) return false;
  }
  if (filter.min_ns < 0 || filter.max_depth < 0) {
    *reason = "min_ns and depth must not be negative";
    return false;
  }
  return true;
}

NameMatcher::NameMatcher(const TraceFilter& filter) {
  std::string unused;  // The filter was validated.
  if (!filter.include.empty()) include_ = Compile(filter.include, &unused);
  if (!filter.exclude.empty()) exclude_ = Compile(filter.exclude, &unused);
}

NameMatcher::~NameMatcher() = default;

bool NameMatcher::Keep(const std::string& name) const {
  return (!include_ || RE2::PartialMatch(name, *include_)) &&
         (!exclude_ || !RE2::PartialMatch(name, *exclude_));
}

HookSliceFilter SliceFilterFor(const TraceFilter& filter) {
  HookSliceFilter h;
  const bool names = !filter.include.empty() || !filter.exclude.empty();
  if (filter.min_ns > 0) {
    h.on = true;
    // The hooks keep a little more than asked (the clock's rate is an estimate); the collector
    // drops what is shorter than min_ns.
    const double ns_per_tick = instrument::NanosPerTick();
    h.min_ticks = static_cast<uint64_t>(double(filter.min_ns) * 0.97 / ns_per_tick);
  } else if (filter.max_depth > 0 && !names) {
    // Everything is kept: nesting among kept slices is the stack depth.
    h.on = true;
    h.max_depth = static_cast<uint32_t>(filter.max_depth);
  }
  return h;
}

}  // namespace runtime
}  // namespace hookprof
