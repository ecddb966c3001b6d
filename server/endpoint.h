// What every endpoint is given and the helpers they share. The router (router.h) matches a
// route, checks its methods and query keys, takes a window slot when the route opens one, and
// then calls its handler with a Call.
//
// Thread-safety: handlers run on many connection threads at once; they share nothing but what
// the runtime locks itself.
#ifndef HOOKPROF_SERVER_ENDPOINT_H_
#define HOOKPROF_SERVER_ENDPOINT_H_

#include <stdint.h>

#include <string>

#include "server/http/http.h"
#include "server/router.h"

namespace hookprof {
namespace server {

struct Call {
  const Request& req;
  const Url& url;
  const Env& env;
  std::string name;  // The last path segment ("heap"); for a prefix route, what follows it.
  // Asked for under <ctx>/debug/legacy/pprof/: gperftools' formats (see WantsLegacy).
  bool legacy = false;
};

using Handler = Response (*)(const Call&);

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

// Go's net/http/pprof set (pprof_endpoints.cc, trace_endpoint.cc, index.cc).
Response Index(const Call& c);
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

#endif  // HOOKPROF_SERVER_ENDPOINT_H_
