#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <type_traits>
#include <vector>

namespace hookprof {
namespace options_internal {
namespace {

std::mutex g_mu;
std::string* g_env_error = nullptr;  // Guarded by g_mu; never destroyed (exit-time callers).
std::string* g_env_warning = nullptr;
bool g_started_by_hookprof = false;

void Append(std::string* error, const std::string& what) {
  *error += (error->empty() ? "" : "; ") + what;
}

// Parsers by type: false if `text` is not a value of the type within [min, max].
bool Parse(const std::string& text, long double, long double, std::string* out) {
  *out = text;
  return true;
}

bool Parse(const std::string& text, long double, long double, bool* out) {
  if (text == "1" || text == "true") {
    *out = true;
  } else if (text == "0" || text == "false") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

template <typename T>
bool Parse(const std::string& text, long double min, long double max, T* out) {
  static_assert(std::is_integral<T>::value, "numbers only");
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = strtoull(text.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0' || n < min || n > max) return false;
  *out = static_cast<T>(n);
  return true;
}

std::string Expected(const std::string*, long double, long double) { return "a string"; }
std::string Expected(const bool*, long double, long double) { return "0, 1, true or false"; }
template <typename T>
std::string Expected(const T*, long double min, long double max) {
  return "an integer in [" + std::to_string(static_cast<unsigned long long>(min)) + ", " +
         std::to_string(static_cast<unsigned long long>(max)) + "]";
}

bool InBounds(const std::string&, long double, long double) { return true; }
bool InBounds(bool, long double, long double) { return true; }
template <typename T>
bool InBounds(T v, long double min, long double max) {
  return static_cast<long double>(v) >= min && static_cast<long double>(v) <= max;
}

std::string DefaultText(const std::string& v) { return v.empty() ? "unset" : "`" + v + "`"; }
std::string DefaultText(bool v) { return v ? "1" : "0"; }
template <typename T>
std::string DefaultText(T v) {
  return std::to_string(v);
}

std::string ValueText(const std::string& v) { return "\"" + v + "\""; }
std::string ValueText(bool v) { return v ? "true" : "false"; }
template <typename T>
std::string ValueText(T v) {
  return std::to_string(v);
}

// Levenshtein distance, for "did you mean".
size_t Distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// HOOKPROF_* variables of the environment that no option reads, each with the closest name.
std::string UnknownVariables() {
  static const char* const kKnown[] = {
#define HOOKPROF_OPTION(type, field, env, default_value, min, max, doc) env,
#include "hookprof_options.inc"
#undef HOOKPROF_OPTION
      kRootPidVariable,
  };
  std::string warnings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.compare(0, 9, "HOOKPROF_") != 0) continue;
    const std::string name = entry.substr(0, entry.find('='));
    const char* closest = nullptr;
    size_t best = ~size_t{0};
    for (const char* known : kKnown) {
      const size_t d = Distance(name, known);
      if (d < best) best = d, closest = known;
    }
    if (best == 0) continue;
    Append(&warnings, name + " is not a hookprof variable (did you mean " + closest + "?)");
  }
  return warnings;
}

}  // namespace

bool Validate(const Options& o, std::string* error) {
  std::string problems;
#define HOOKPROF_OPTION(type, field, env, default_value, min, max, doc)             \
  if (!InBounds(o.field, min, max)) {                                               \
    Append(&problems, std::string(#field " = ") + ValueText(o.field) + " is not " + \
                          Expected(&o.field, min, max));                            \
  }
#include "hookprof_options.inc"
#undef HOOKPROF_OPTION
  if (problems.empty()) return true;
  *error = problems;
  return false;
}

std::string TakeEnvironmentError() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_env_error == nullptr) return "";
  std::string e;
  e.swap(*g_env_error);
  return e;
}

std::string TakeEnvironmentWarning() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_env_warning == nullptr) return "";
  std::string e;
  e.swap(*g_env_warning);
  return e;
}

bool StartedByAnotherHookprofProcess() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_started_by_hookprof;
}

std::string ResolveOutPath(const std::string& spelt) {
  std::string path = spelt;
  for (size_t at = 0; (at = path.find("%p", at)) != std::string::npos;) {
    const std::string pid = std::to_string(getpid());
    path.replace(at, 2, pid);
    at += pid.size();
  }
  if (path.empty() || path[0] == '/') return path;
  const char* outputs = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  return outputs != nullptr && *outputs != '\0' ? std::string(outputs) + "/" + path : path;
}

std::string MarkdownTable() {
  std::string t = "| variable | default | meaning |\n| --- | --- | --- |\n";
#define HOOKPROF_OPTION(type, field, env, default_value, min, max, doc) \
  t += std::string("| `") + env + "` | " + DefaultText(type(default_value)) + " | " + doc + " |\n";
#include "hookprof_options.inc"
#undef HOOKPROF_OPTION
  return t;
}

}  // namespace options_internal

Options OptionsFromEnvironment() {
  using namespace options_internal;  // NOLINT: the parsers above.
  Options o;
  std::string problems;
#define HOOKPROF_OPTION(type, field, env, default_value, min, max, doc)                           \
  if (const char* v = getenv(env); v != nullptr && *v != '\0' && !Parse(v, min, max, &o.field)) { \
    Append(&problems, std::string(env "=\"") + v + "\" is not " + Expected(&o.field, min, max));  \
  }
#include "hookprof_options.inc"
#undef HOOKPROF_OPTION
  // Under `bazel test`, tests run at once: each on a free port, each profile in its outputs.
  auto unset = [](const char* name) {
    const char* v = getenv(name);
    return v == nullptr || *v == '\0';
  };
  if (!unset("TEST_UNDECLARED_OUTPUTS_DIR") && o.test_defaults) {
    if (unset("HOOKPROF_ADDR")) o.address = "127.0.0.1:0";
    if (unset("HOOKPROF_PROFILE_OUT")) o.profile_out = "hookprof.pb.gz";
  }
  // A process started by a hookprof process (a shell, `sleep`, a helper, the program itself
  // exec'd again) inherits its environment, and under LD_PRELOAD hookprof too. Left alone
  // unless asked: it would fight over the port and overwrite the first process's files.
  const std::string self = std::to_string(getpid());
  const char* root = getenv(kRootPidVariable);
  const bool started_by_hookprof = root != nullptr && *root != '\0' && self != root;
  if (root == nullptr || *root == '\0') setenv(kRootPidVariable, self.c_str(), 1);
  if (started_by_hookprof && !o.children) {
    o.serve = false;
    o.mode = "off";
    o.cpu_hz = 0;
    o.heap_rate = 0;
    o.mutex_fraction = 0;
    o.block_rate = 0;
    o.profile_out = o.trace_out = o.coverage_out = o.latency_out = o.exclusions_out = "";
  }
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_env_error == nullptr) g_env_error = new std::string;
  if (g_env_warning == nullptr) g_env_warning = new std::string;
  g_started_by_hookprof = started_by_hookprof;
  // The first process reported the environment's problems already.
  const bool quiet = started_by_hookprof && !o.children;
  *g_env_error = quiet ? "" : problems;
  *g_env_warning = quiet ? "" : UnknownVariables();
  return o;
}

}  // namespace hookprof
