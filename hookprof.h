// hookprof: profiles of a program built with compiler instrumentation, served the way Go's
// net/http/pprof serves them.
//
// Build the code to profile with `bazel build --config=instrumented` (GCC
// -finstrument-functions) and link //:hookprof, then, early in main():
//
//   #include "hookprof.h"
//
//   int main() {
//     hookprof::Options options = hookprof::OptionsFromEnvironment();
//     options.context_path = "/myapp";
//     std::string error;
//     if (!hookprof::Use(options, &error)) fprintf(stderr, "%s\n", error.c_str());
//     ...
//   }
//
// and read it: `go tool pprof http://127.0.0.1:8900/myapp/debug/pprof/profile?seconds=5`.
// Or link //:autostart instead: it calls Use(OptionsFromEnvironment()) when the program loads.
//
// Options: every field has a HOOKPROF_* environment variable (OptionsFromEnvironment); the list,
// with defaults, bounds and meanings, is hookprof_options.inc (README shows it as a table).
//
// Thread-safety: Use and Stop may be called from any thread, not concurrently with each other.
#ifndef HOOKPROF_HOOKPROF_H_
#define HOOKPROF_HOOKPROF_H_

#include <stdint.h>

#include <string>
#include <utility>
#include <vector>

namespace hookprof {

struct Options {
#define HOOKPROF_OPTION(type, field, env, default_value, min, max, doc) type field = default_value;
#include "hookprof_options.inc"
#undef HOOKPROF_OPTION
};

// Defaults overridden by the HOOKPROF_* variables. Malformed or out-of-range values are
// reported by the next Use (and the default kept).
Options OptionsFromEnvironment();

// Starts CPU sampling and the HTTP server. Recording itself runs from the program's first
// instrumented call. Returns false and sets `error` (one line) if the options are invalid (a
// value outside its bounds, an unknown mode, a malformed context path; no server is started
// then) or the address cannot be bound; recording goes on regardless. Calling it again restarts the
// server with the new options.
bool Use(const Options& options, std::string* error = nullptr);

// Stops the server and sampling (also done at exit). Recorded data is kept.
void Stop();

// The port the server listens on (useful with port 0), or 0 when not serving.
int Port();

// For programs with their own HTTP server: route `<context path>/debug/...` (and /symbolz)
// here. Blocks for the length of a profile window: call it from a thread that may wait.
struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type included.
  std::string body;
};
// The request as the program's server received it. A request that changes state (POST to
// mode, coverage reset) whose Origin is another site than its Host gets 403, as on hookprof's
// own server: pass both headers whenever a browser can reach the program's server. (Which
// hosts may ask at all is the program server's choice: no loopback-only Host check here.)
struct HttpRequest {
  std::string method;  // "GET", "POST", "HEAD".
  std::string target;  // Path and query as sent.
  std::string body;
  std::string authorization;  // The Authorization header, "" if none.
  std::string host;           // The Host header, "" if none.
  std::string origin;         // The Origin header, "" if none (pprof and curl send none).
  std::string accept;         // The Accept header, "" if none (Prometheus sends one).
};
HttpResponse HandleHttp(const HttpRequest& request);
// The same without Host and Origin: for callers no browser reaches.
HttpResponse HandleHttp(const std::string& method, const std::string& target,
                        const std::string& body, const std::string& authorization = "");

}  // namespace hookprof

#endif  // HOOKPROF_HOOKPROF_H_
