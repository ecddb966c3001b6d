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

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#include <initializer_list>
#include <string>
#include <string_view>
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

// Labels: which request, tenant or span this thread works for, as Go's pprof.Do sets them. Every
// profile's samples carry the current labels as pprof string labels (CPU samples with their
// exact calls and wall time, heap, mutex, block, goroutine, threadcreate), so
//   go tool pprof -tagfocus=endpoint=/search  URL   shows one set's calls and time,
//   go tool pprof -tagroot=endpoint URL             puts each value at the root of the graph.
//
//   void Handle(const Request& r) {
//     hookprof::LabelScope scope({{"endpoint", r.path()}, {"tenant", r.tenant()}});
//     ...  // Everything this thread does until `scope` ends is labelled.
//   }
//
// Scopes nest (an inner scope's keys override the outer ones' until it ends; an empty value
// removes a key) and are per thread. A thread created by pthread_create (so std::thread) starts
// with its creator's labels. For other hand-offs (a thread pool, a callback), carry them:
//   pool.Submit([labels = hookprof::CurrentLabels()] { hookprof::LabelScope scope(labels); ... });
// For distributed tracing, set the well-known keys "trace_id" and "span_id" from the current
// span (OpenTelemetry: span.GetContext().trace_id().ToLowerBase16(...)).
//
// Cost: a scope from a Labels value is a push and a pop on the thread's own state (tens of ns,
// see docs/labels.md); from pairs, the pairs are also looked up in the process's table of label
// sets. Hooks cost nothing more while no scope is open. Bounds: 10,000 distinct label sets per
// process; later new sets share the set hookprof_labels=overflow (counted, and stated in the
// profiles' comments). Keys that are empty, start with "pprof::" or are "thread" or "tid" (the
// labels hookprof sets itself) are dropped; keys and values are cut at 256 bytes and invalid
// UTF-8 is replaced by U+FFFD. Not for use in signal handlers that interrupt hookprof's hooks
// (such a scope is counted and not applied).
class Labels {
 public:
  Labels() = default;  // No labels.
  Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> pairs);
  // The pairs, sorted by key.
  std::vector<std::pair<std::string, std::string>> Get() const;
  // Not hooked where the program's code is (GCC hooks inlined copies): hookprof's, not yours.
  __attribute__((no_instrument_function)) bool empty() const { return id_ == 0; }
  __attribute__((no_instrument_function)) bool operator==(const Labels& o) const {
    return id_ == o.id_;
  }
  __attribute__((no_instrument_function)) bool operator!=(const Labels& o) const {
    return id_ != o.id_;
  }

 private:
  friend Labels CurrentLabels();
  friend class LabelScope;
  uint32_t id_ = 0;
};

// The calling thread's labels.
Labels CurrentLabels();

class LabelScope {
 public:
  // The current labels with `pairs` put over them.
  explicit LabelScope(std::initializer_list<std::pair<std::string_view, std::string_view>> pairs);
  // Exactly `labels` (a thread pool task takes its request's labels, whatever the worker had).
  explicit LabelScope(const Labels& labels);
  ~LabelScope();
  LabelScope(const LabelScope&) = delete;
  LabelScope& operator=(const LabelScope&) = delete;

 private:
  uint32_t token_;
};

}  // namespace hookprof

extern "C" {
#endif  // __cplusplus

// Labels for C: `keys_and_values` holds `pairs` key/value pairs (2 * pairs strings, key first),
// put over the current labels until hookprof_labels_pop(token). A token of 0 entered nothing
// (popping it is harmless). Scopes must be popped in reverse order (popping one pops those
// entered after it).
int hookprof_labels_push(const char* const* keys_and_values, size_t pairs);
void hookprof_labels_pop(int token);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // HOOKPROF_HOOKPROF_H_
