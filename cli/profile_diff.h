// `hookprof diff BASE NEW`: two CPU profiles compared per function and per call path (calls,
// exact when the profile has hookprof's `calls` sample type, and CPU), sorted by change, with
// the checks that fail a CI job. Reads any pprof profile, gzipped or not.
#ifndef HOOKPROF_CLI_PROFILE_DIFF_H_
#define HOOKPROF_CLI_PROFILE_DIFF_H_

#include <stdint.h>

#include <map>
#include <string>
#include <vector>

namespace hookprof {
namespace cli {

// Totals of one function or one call path in one profile.
struct Totals {
  int64_t calls = 0;       // Calls ending on it (a path's leaf; a function's own).
  int64_t cpu_ns = 0;      // CPU with it as the leaf (flat).
  int64_t cum_cpu_ns = 0;  // CPU with it anywhere on the stack (functions only).
};

struct ProfileTotals {
  bool has_calls = false;  // The profile carries exact calls.
  bool has_cpu = false;
  std::map<std::string, Totals> functions;
  std::map<std::string, Totals> paths;  // "leaf <- caller <- ..."
};

// Decodes a pprof file (gzipped or not) into totals; false with a one-line reason.
bool ReadProfileTotals(const std::string& path, ProfileTotals* out, std::string* error);

struct DiffOptions {
  std::string format = "text";  // text | json
  size_t top = 20;              // Rows per table; 0 for all.
  // Fail when a function's calls grew by more than this percentage (negative: never). A
  // function with no calls in BASE that has some in NEW has grown without bound.
  double fail_calls_above_pct = -1;
  // Only functions matching this RE2 (partial match) are checked; empty: all. Given alone,
  // any growth of their calls fails.
  std::string fail_on;
};

struct DiffRow {
  std::string name;
  Totals base, now;
};

// Rows for every function or path in either profile whose calls or CPU differ, largest
// change first (calls first, then CPU).
std::vector<DiffRow> DiffRows(const std::map<std::string, Totals>& base,
                              const std::map<std::string, Totals>& now);

// Writes the report to `out` and returns the exit status: 0, 1 when a check failed, 2 for a
// usage error (with `error` set).
int Diff(const ProfileTotals& base, const ProfileTotals& now, const DiffOptions& options,
         std::string* out, std::string* error);

}  // namespace cli
}  // namespace hookprof

#endif  // HOOKPROF_CLI_PROFILE_DIFF_H_
