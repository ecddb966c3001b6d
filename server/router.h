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

#include "server/endpoints/endpoint.h"
#include "server/http/http.h"

namespace hookprof {
namespace server {

// Methods a route takes besides GET and HEAD; a state-changing POST must come from the same
// origin when a browser sends it.
enum class Methods { kGet, kGetPost, kGetStatePost, kAny };
// Whether a request holds one of the env's window slots while it runs: profile windows wait
// and hold a snapshot or trace buffer meanwhile, so their number bounds memory.
enum class Window { kNever, kAlways, kWithSeconds };

struct Route {
  const char* name = nullptr;  // What messages call it ("heap", "charts").
  const char* path = nullptr;  // Under the context path; `prefix` routes match anything below.
  bool prefix = false;
  bool root = false;  // At the server's root, outside the context path (/symbolz).
  Methods methods = Methods::kGet;
  // Accepted query keys, comma-separated, a repeatable one marked "key*" ("label*"); nullptr:
  // any (unchecked). No other key may be given twice.
  const char* keys = nullptr;
  Window window = Window::kNever;
  Handler handler = nullptr;
  // The index page's row: link relative to the index (nullptr: no row), a description (HTML),
  // and optionally a count and live details appended to the description.
  const char* link = nullptr;
  const char* doc = nullptr;
  size_t (*count)() = nullptr;
  std::string (*details)() = nullptr;
};

// Every route, in the index page's order.
const Route* Routes(size_t* n);

// The index page (index.cc): the route table with live counts.
Response Index(const Call& c);

// "demo", "/demo/", "/" -> "/demo", "/demo", "". Returns false for a path that cannot be one
// (dot segments, empty segments, characters that need escaping).
bool NormalizeContextPath(const std::string& in, std::string* out);

// Answers `request`. Before any route: the Host check (loopback_only), the bearer token
// (scheme compared case-insensitively, token in constant time), and for requests that change
// state (POST to mode or coverage reset) and WebSocket upgrades, an Origin from another site
// gets 403. HEAD on a window route answers at once without opening the window.
Response HandleRequest(const Request& request, const Env& env);

// The route table as docs/endpoints.md shows it, in Markdown: every route with a description.
std::string EndpointsMarkdown();

// The endpoints as a transport serves them: requests through HandleRequest with the
// transport's wait, and the charts' WebSocket.
Application MakeApplication(const Env& env);

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_ROUTER_H_
