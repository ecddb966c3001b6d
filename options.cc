#include "options.h"

#include <errno.h>
#include <stdlib.h>

#include <mutex>
#include <type_traits>

namespace hookprof {
namespace options_internal {
namespace {

std::mutex g_mu;
std::string* g_env_error = nullptr;  // Guarded by g_mu; never destroyed (exit-time callers).

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

std::string ResolveOutPath(const std::string& path) {
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
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_env_error == nullptr) g_env_error = new std::string;
  *g_env_error = problems;
  return o;
}

}  // namespace hookprof
