// The router: authentication (bearer token), the context path, and one route table
// (routes.cc) from which dispatch, the "keys it takes" 400s and the index page all come.
// Endpoints are laid out as Go's net/http/pprof under the context path:
//   <ctx>/debug/pprof/...        Go's set: index, profile, heap, allocs, goroutine (threads),
//                                threadcreate, mutex (contention), block, cmdline, symbol, trace
//   <ctx>/debug/hookprof/mode    the recording mode
//   <ctx>/debug/hookprof/latency latency per function (timing mode)
//   <ctx>/debug/hookprof/exclusions  the functions whose hooks cost more than they tell
//   <ctx>/debug/coverage         sanitizer coverage
//   <ctx>/debug/charts/...       live charts (page, data, WebSocket)
//   /symbolz                     the symbol protocol at the root: go tool pprof posts there
//                                whenever the profile URL has a context path
// The route table in routes.cc is the list; the index page shows it.
//
// Thread-safety: HandleRequest may run on many threads at once; it blocks for the length of a
// profile window, waiting through `Env::wait` so a server can interrupt it. Call it from a
// thread marked internal or under an instrument::ScopedGuard (the server and HandleHttp do),
// so that hookprof's own work is never recorded (under clang it cannot be compiled out).
#ifndef HOOKPROF_SERVER_ROUTER_H_
#define HOOKPROF_SERVER_ROUTER_H_

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

// "demo", "/demo/", "/" -> "/demo", "/demo", "". Returns false for a path that cannot be one
// (dot segments, empty segments, characters that need escaping).
bool NormalizeContextPath(const std::string& in, std::string* out);

// Answers `request`. Before any route: the Host check (loopback_only), the bearer token
// (scheme compared case-insensitively, token in constant time), and for requests that change
// state (POST to mode or coverage reset) and WebSocket upgrades, an Origin from another site
// gets 403. HEAD on a window route answers at once without opening the window.
Response HandleRequest(const Request& request, const Env& env);

// Requests answered since the process started, by endpoint (the route's name; "none" for a
// request refused before one matched, or that matched none) and status.
struct AnswerCount {
  std::string endpoint;
  int status = 0;
  uint64_t count = 0;
};
std::vector<AnswerCount> AnswerCounts();

// The route table as docs/endpoints.md shows it, in Markdown: every route with a description.
std::string EndpointsMarkdown();

// The endpoints as a transport serves them: requests through HandleRequest with the
// transport's wait, and the charts' WebSocket.
Application MakeApplication(const Env& env);

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_ROUTER_H_
