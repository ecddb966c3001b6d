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
// Environment (OptionsFromEnvironment):
//   HOOKPROF_ADDR          listen address, host:port (default 127.0.0.1:8900; port 0 = any)
//   HOOKPROF_CONTEXT_PATH  prefix of every endpoint (default empty), e.g. /myapp
//   HOOKPROF_CPU_HZ        CPU samples per second of thread CPU time (default 100; 0 = off)
//   HOOKPROF_PROFILE_OUT   write the whole run's CPU profile here at normal exit; under
//                          `bazel test` a relative path lands in the test's outputs
//   HOOKPROF_MAX_SECONDS   longest profile window served (default 3600)
//   HOOKPROF_MAX_WINDOWS   profile windows (profile, trace, ?seconds=N) open at once; more get
//                          503 (default 16)
//   HOOKPROF_MAX_CONNECTIONS  connections served at once; more get 503 (default 256)
//   HOOKPROF_SERVE         0 = record and write HOOKPROF_PROFILE_OUT only, no server
//   HOOKPROF_ALLOW_REMOTE  1 = allow a non-loopback HOOKPROF_ADDR (refused otherwise)
//   HOOKPROF_TOKEN         if set, every endpoint wants "Authorization: Bearer <token>"
//   HOOKPROF_HEAP_RATE     mean bytes between sampled allocations (default 524288; 1 = every
//                          allocation; 0 = off), for the heap and allocs profiles
//   HOOKPROF_MUTEX_FRACTION  mutex profile: 1 in N contended lock acquisitions timed (default 1
//                          = every one; 0 = off), as Go's SetMutexProfileFraction
//   HOOKPROF_BLOCK_RATE    block profile: waits of at least N ns always recorded, shorter ones
//                          with probability wait/N (default 1 = every wait; 0 = off), as Go's
//                          SetBlockProfileRate
//   HOOKPROF_MODE          off | profile (default) | trace; switchable at run time with
//                          POST <ctx>/debug/hookprof/mode?set=...
//   HOOKPROF_TRACE_OUT     flight recorder: at normal exit write what the trace rings hold
//                          there (Perfetto; Chrome JSON if the name ends in .json); relative
//                          paths go to the test's outputs under `bazel test`
//   HOOKPROF_COVERAGE_OUT  programs built with sanitizer coverage: at normal exit write the whole
//                          run's coverage there (lcov; pprof if the name ends in .pb.gz, the
//                          per-function text if in .txt); relative paths as above
//   HOOKPROF_TRACE_MIN_NS, HOOKPROF_TRACE_DEPTH, HOOKPROF_TRACE_INCLUDE,
//   HOOKPROF_TRACE_EXCLUDE filters for that trace (as the trace endpoint's parameters)
//   HOOKPROF_TRACE_BUFFER  trace ring bytes per thread (default 8388608: 1M events, 16 bytes
//                          per call); the ring keeps the newest events
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
  std::string address = "127.0.0.1:8900";
  std::string context_path;
  bool serve = true;
  int cpu_hz = 100;
  int max_profile_seconds = 3600;
  int max_profile_windows = 16;
  int max_connections = 256;
  std::string profile_out;
  std::string mode = "profile";  // off | profile | trace
  uint64_t trace_buffer_bytes = 8 << 20;
  std::string trace_out;
  std::string coverage_out;
  int64_t trace_min_ns = 0;
  int trace_depth = 0;
  std::string trace_include;
  std::string trace_exclude;
  bool allow_remote = false;
  std::string token;
  int64_t heap_rate = 512 * 1024;
  int64_t mutex_fraction = 1;
  int64_t block_rate = 1;
};

// Defaults overridden by the HOOKPROF_* variables above. Malformed values are reported by Use.
Options OptionsFromEnvironment();

// Starts CPU sampling and the HTTP server. Recording itself runs from the program's first
// instrumented call. Returns false and sets `error` (one line) if the options are invalid or
// the address cannot be bound; recording goes on regardless. Calling it again restarts the
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
HttpResponse HandleHttp(const std::string& method, const std::string& target,
                        const std::string& body, const std::string& authorization = "");

}  // namespace hookprof

#endif  // HOOKPROF_HOOKPROF_H_
