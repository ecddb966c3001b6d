// hookprof's command line: `hookprof diff BASE NEW` (cli/profile_diff.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "cli/profile_diff.h"

namespace {

constexpr char kUsage[] =
    "usage: hookprof diff [--format=text|json] [--top=N] [--fail-calls-above=PCT%]\n"
    "                     [--fail-on=RE2] BASE NEW\n"
    "  Compares two CPU profiles (pprof, gzipped or not) per function and call path: exact\n"
    "  calls (hookprof's profiles) and CPU, largest change first.\n"
    "  --fail-calls-above=5%  exit 1 if a function's calls grew by more than 5%\n"
    "                         (a function new in NEW has grown without bound)\n"
    "  --fail-on=RE2          check only the functions matching RE2; alone: any growth fails\n"
    "  --top=N                rows per table (default 20, 0 for all)\n"
    "  Exit status: 0 no check failed, 1 a check failed, 2 bad usage or unreadable input.\n";

int Usage(const std::string& error) {
  if (!error.empty()) fprintf(stderr, "hookprof: %s\n", error.c_str());
  fputs(kUsage, stderr);
  return 2;
}

bool Value(const std::string& arg, const char* name, std::string* value) {
  const size_t n = strlen(name);
  if (arg.compare(0, n, name) != 0 || arg.size() <= n || arg[n] != '=') return false;
  *value = arg.substr(n + 1);
  return true;
}

// "5%", "5" or "0.5%": a non-negative percentage.
bool ParsePercent(std::string s, double* out) {
  if (!s.empty() && s.back() == '%') s.pop_back();
  char* end = nullptr;
  const double v = strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(v >= 0)) return false;
  *out = v;
  return true;
}

int DiffCommand(const std::vector<std::string>& args) {
  hookprof::cli::DiffOptions options;
  std::vector<std::string> files;
  for (const std::string& arg : args) {
    std::string v;
    if (Value(arg, "--format", &v)) {
      if (v != "text" && v != "json") return Usage("--format is text or json, not '" + v + "'");
      options.format = v;
    } else if (Value(arg, "--top", &v)) {
      char* end = nullptr;
      const long top = strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || top < 0)
        return Usage("--top takes a count, not '" + v + "'");
      options.top = static_cast<size_t>(top);
    } else if (Value(arg, "--fail-calls-above", &v)) {
      if (!ParsePercent(v, &options.fail_calls_above_pct)) {
        return Usage("--fail-calls-above takes a percentage such as 5%, not '" + v + "'");
      }
    } else if (Value(arg, "--fail-on", &v)) {
      options.fail_on = v;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return Usage("unknown option " + arg);
    } else {
      files.push_back(arg);
    }
  }
  if (files.size() != 2) return Usage("diff takes two profiles, BASE and NEW");
  hookprof::cli::ProfileTotals base, now;
  std::string error;
  if (!hookprof::cli::ReadProfileTotals(files[0], &base, &error) ||
      !hookprof::cli::ReadProfileTotals(files[1], &now, &error)) {
    fprintf(stderr, "hookprof: %s\n", error.c_str());
    return 2;
  }
  std::string out;
  const int status = hookprof::cli::Diff(base, now, options, &out, &error);
  if (status == 2) {
    fprintf(stderr, "hookprof: %s\n", error.c_str());
    return 2;
  }
  fputs(out.c_str(), stdout);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
    return Usage(argc < 2 ? "a command is needed" : "");
  }
  if (strcmp(argv[1], "diff") == 0) return DiffCommand({argv + 2, argv + argc});
  return Usage(std::string("unknown command '") + argv[1] + "'");
}
