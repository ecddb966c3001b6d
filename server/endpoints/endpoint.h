// What every endpoint is given and the helpers they share. The router (server/router.h) matches
// a route, checks its methods and query keys, takes a window slot when the route opens one, and
// then calls its handler with a Call. Endpoints know no route: the route table is the router's.
//
// Thread-safety: handlers run on many connection threads at once; they share nothing but what
// the runtime locks itself.
#ifndef HOOKPROF_SERVER_ENDPOINTS_ENDPOINT_H_
#define HOOKPROF_SERVER_ENDPOINTS_ENDPOINT_H_

#include <stdint.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "server/http/http.h"

namespace hookprof {
namespace server {

struct Env {
  // "" or "/a/b": leading slash, no trailing slash (see NormalizeContextPath).
  std::string context_path;
  int max_profile_seconds = 3600;
  // When set, every endpoint wants "Authorization: Bearer <token>" (401 otherwise).
  std::string token;
  // Waits `nanos`; returns false if the server is shutting down (the profile is abandoned).
  Wait wait;
  // Profile windows (profile, trace, and ?seconds=N deltas) open at once; more get 503. Each
  // holds a snapshot or a trace buffer, so the limit bounds memory under a scraping storm.
  int max_profile_windows = 16;
  std::shared_ptr<std::atomic<int>> open_windows = std::make_shared<std::atomic<int>>(0);
  // A server bound to loopback serves only requests whose Host is a loopback name or address,
  // or one of `allowed_hosts`: a web page that rebinds its own name to 127.0.0.1 cannot read
  // profiles (421 otherwise).
  bool loopback_only = false;
  std::vector<std::string> allowed_hosts;
  // What Use warned about (misspelt variables), shown on the index page too.
  std::string warnings;
  // Where the metrics route answers under the context path instead of "/metrics" (normalized
  // as a context path; not under /debug/, which hookprof's own routes use).
  std::string metrics_path = "/metrics";
};

// Requests answered since the process started, by endpoint (the route's name; "none" for a
// request refused before one matched, or that matched none) and status.
struct AnswerCount {
  std::string endpoint;
  int status = 0;
  uint64_t count = 0;
};
std::vector<AnswerCount> AnswerCounts();
// One more answer (the router, for every request).
void CountAnswer(const char* endpoint, int status);

struct Call {
  const Request& req;
  const Url& url;
  const Env& env;
  std::string name;  // The last path segment ("heap"); for a prefix route, what follows it.
  // Asked for under <ctx>/debug/legacy/pprof/: gperftools' formats (see WantsLegacy).
  bool legacy = false;
};

using Handler = Response (*)(const Call&);

// --- helpers for handlers ---

// A profile as a download.
Response Octet(std::string body, const std::string& filename);
// A window cut short by the server stopping.
Response Interrupted();
// A relative redirect (keeps the context path).
Response MovedTo(const std::string& relative);

// A decimal integer in [0, max]; false for anything else (signs, spaces, overflow).
bool ParseNonNegative(const std::string& text, int64_t max, int64_t* out);
// Seconds as written in a query, in nanoseconds: decimal digits only (no sign, space, exponent
// or hex); with `fraction`, up to 9 decimals and at least 1 ms. At most `max_seconds`.
bool ParseSeconds(const std::string& text, bool fraction, int64_t max_seconds, int64_t* nanos);
// ?seconds=N for integer windows: absent -> `*seconds` unchanged; else a positive integer of at
// most the env's limit, or false with a 400 in `error`.
bool SecondsParam(const Call& c, int64_t* seconds, Response* error);
// Go's `debug` and `seconds` for named profiles (seconds 0 when absent).
bool NamedProfileParams(const Call& c, int* debug, int64_t* seconds, Response* error);
// Every client gets profile.proto, as from Go. google-pprof (gperftools' Perl pprof) reads only
// gperftools' legacy formats: it gets them under <ctx>/debug/legacy/pprof/ (a mirror of the
// pprof directory whose symbol page it finds itself), or anywhere with format=legacy.
bool WantsLegacy(const Call& c, bool* legacy, Response* error);

// --- the endpoints, by family ---

// Go's net/http/pprof set (pprof_endpoints.cc, trace_endpoint.cc; the index is the router's).
Response Profile(const Call& c);
Response HeapProfile(const Call& c);
Response ContentionProfile(const Call& c);
Response StackCountProfile(const Call& c);
Response Cmdline(const Call& c);
Response Symbol(const Call& c);
Response Trace(const Call& c);

// hookprof's own (hookprof_endpoints.cc).
Response Mode(const Call& c);
Response Coverage(const Call& c);
Response Charts(const Call& c);
Response Exclusions(const Call& c);
Response Latency(const Call& c);
Response Functions(const Call& c);
Response Metrics(const Call& c);

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_ENDPOINTS_ENDPOINT_H_
