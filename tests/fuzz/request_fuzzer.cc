// libFuzzer target: request routing and query parsing. Input: "METHOD target\n" then the body.
// Every request must come back with a status in [200, 599]; a 4xx/5xx carries one line of
// text/plain reason; an accepted target never has dot or empty segments or a NUL in its path.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <string>

#include "instrument/state/thread_state.h"
#include "server/http/http.h"
#include "server/router.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "request_fuzzer: %s\n", what);
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace hs = hookprof::server;
  hookprof::instrument::ScopedGuard guard;  // As the server calls handlers.
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t line_end = input.find('\n');
  const std::string line = input.substr(0, line_end);
  const size_t space = line.find(' ');
  hs::Request req;
  req.method = space == std::string::npos ? "GET" : line.substr(0, space);
  req.target = space == std::string::npos ? line : line.substr(space + 1);
  if (line_end != std::string::npos) req.body = input.substr(line_end + 1);

  hs::Url url;
  std::string reason;
  if (hs::ParseTarget(req.target, &url, &reason)) {
    Check(!url.path.empty() && url.path[0] == '/', "accepted path is not absolute");
    Check(url.path.find("/../") == std::string::npos && url.path.find("/./") == std::string::npos,
          "accepted path has a dot segment");
    Check(url.path.find("//") == std::string::npos, "accepted path has an empty segment");
  } else {
    Check(!reason.empty() && reason.find('\n') == std::string::npos, "rejection without reason");
  }

  // A profile window would wait: the server is "shutting down" at once instead.
  hs::Env env;
  env.context_path = "/ctx";
  env.max_profile_seconds = 5;
  env.wait = [](int64_t) { return false; };
  // Switching the mode on and off is allowed; tracing would fill rings for nothing.
  const hs::Response r = hs::HandleRequest(req, env);
  Check(r.status >= 200 && r.status <= 599, "status out of range");
  if (r.status >= 400) {
    Check(!r.body.empty() && r.body.back() == '\n' && r.body.find('\n') == r.body.size() - 1,
          "error body is not one line");
  }
  return 0;
}
