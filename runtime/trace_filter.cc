#include "runtime/trace_filter.h"

namespace hookprof {
namespace runtime {
namespace {

// Filters come from the network: matching uses libstdc++'s polynomial-time executor (no
// exponential backtracking on a hostile pattern), which has no back-references, and patterns
// are bounded before its parser sees them (it overflows on very long numbers).
constexpr auto kRegexFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
constexpr size_t kMaxRegexBytes = 256;

bool RegexAcceptable(const std::string& re, std::string* why) {
  if (re.size() > kMaxRegexBytes) {
    *why = "longer than " + std::to_string(kMaxRegexBytes) + " bytes";
    return false;
  }
  size_t digits = 0;
  for (size_t i = 0; i < re.size(); ++i) {
    digits = re[i] >= '0' && re[i] <= '9' ? digits + 1 : 0;
    if (digits > 4) {
      *why = "numbers are limited to 4 digits";
      return false;
    }
    if (re[i] == '\\' && i + 1 < re.size()) {
      if (re[i + 1] >= '1' && re[i + 1] <= '9') {
        *why = "back-references are not supported";
        return false;
      }
      ++i;  // An escaped character is never the start of anything else.
    }
  }
  return true;
}

}  // namespace

bool ValidateTraceFilter(const TraceFilter& filter, std::string* reason) {
  for (const std::string* re : {&filter.include, &filter.exclude}) {
    if (re->empty()) continue;
    std::string why;
    if (!RegexAcceptable(*re, &why)) {
      *reason = "invalid regular expression: " + why;
      return false;
    }
    try {
      std::regex r(*re, kRegexFlags);
    } catch (const std::regex_error& e) {
      *reason = "invalid regular expression \"" + *re + "\": " + e.what();
      return false;
    }
  }
  if (filter.min_ns < 0 || filter.max_depth < 0) {
    *reason = "min_ns and depth must not be negative";
    return false;
  }
  return true;
}

NameMatcher::NameMatcher(const TraceFilter& filter) {
  if (!filter.include.empty()) include_ = std::make_unique<std::regex>(filter.include, kRegexFlags);
  if (!filter.exclude.empty()) exclude_ = std::make_unique<std::regex>(filter.exclude, kRegexFlags);
}

NameMatcher::~NameMatcher() = default;

bool NameMatcher::Keep(const std::string& name) const {
  return (!include_ || std::regex_search(name, *include_)) &&
         (!exclude_ || !std::regex_search(name, *exclude_));
}

}  // namespace runtime
}  // namespace hookprof
