// The endpoints, laid out as Go's net/http/pprof under a context path:
//   <ctx>/debug/pprof/            HTML index (relative links: any context path works)
//   <ctx>/debug/pprof/profile     CPU profile over ?seconds=N (default 30)
//   <ctx>/debug/pprof/cmdline     NUL-separated argv
//   <ctx>/debug/pprof/goroutine   every live thread's stack (also .../threads); debug=1 counts
//                                 as text, debug=2 a dump with names, tids, states
//   <ctx>/debug/pprof/threadcreate  the creating stack of every thread; debug=1 as text
//                                 (these take ?seconds=N for a delta, as Go's do)
//   <ctx>/debug/pprof/symbol      pprof's symbol protocol (GET, POST)
//   <ctx>/debug/pprof/trace       execution trace over ?seconds=F (default 1): Perfetto, or
//                                 format=json; filters min_ns, depth, include, exclude
//   <ctx>/debug/hookprof/mode     GET the recording mode; POST ?set=off|profile|trace
//   /symbolz                      the same, at the root: go tool pprof posts there whenever
//                                 the profile URL has a context path
//
// Thread-safety: HandleRequest may run on many threads at once; it blocks for the length of a
// profile window, waiting through `Env::wait` so a server can interrupt it. Call it from a
// thread marked internal or under an instrument::ScopedGuard (the server and HandleHttp do),
// so that hookprof's own work is never recorded (under clang it cannot be compiled out).
#ifndef HOOKPROF_SERVER_HANDLERS_H_
#define HOOKPROF_SERVER_HANDLERS_H_

#include <stdint.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "instrument/thread_state.h"
#include "server/http.h"

namespace hookprof {
namespace server {

struct Env {
  // "" or "/a/b": leading slash, no trailing slash (see NormalizeContextPath).
  std::string context_path;
  int max_profile_seconds = 3600;
  // When set, every endpoint wants "Authorization: Bearer <token>" (401 otherwise).
  std::string token;
  // Waits `nanos`; returns false if the server is shutting down (the profile is abandoned).
  std::function<bool(int64_t nanos)> wait;
  // Profile windows (profile, trace, and ?seconds=N deltas) open at once; more get 503. Each
  // holds a snapshot or a trace buffer, so the limit bounds memory under a scraping storm.
  int max_profile_windows = 16;
  std::shared_ptr<std::atomic<int>> open_windows = std::make_shared<std::atomic<int>>(0);
};

// "demo", "/demo/", "/" -> "/demo", "/demo", "". Returns false for a path that cannot be one
// (dot segments, empty segments, characters that need escaping).
bool NormalizeContextPath(const std::string& in, std::string* out);

// "off", "profile", "trace" -> the mode; false for anything else.
bool ParseMode(const std::string& text, instrument::Mode* mode);

Response HandleRequest(const Request& request, const Env& env);

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_HANDLERS_H_
