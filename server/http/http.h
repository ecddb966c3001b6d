// The HTTP layer's own types: handlers are plain functions from a Request to a Response, so they
// are testable without sockets and mountable in any server; an Application is what a transport
// (http_server.h) serves.
//
// Thread-safety: values; ParseTarget and ErrorResponse are pure.
#ifndef HOOKPROF_SERVER_HTTP_HTTP_H_
#define HOOKPROF_SERVER_HTTP_HTTP_H_

#include <stdint.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hookprof {
namespace server {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // Path and query as sent: "/demo/debug/pprof/profile?seconds=5".
  std::string body;
  std::string user_agent;
  std::string authorization;  // The Authorization header, if any.
  std::string host;           // The Host header, if any.
  std::string origin;         // The Origin header, if any (browsers send it).
  std::string accept;         // The Accept header, if any (metrics scrapers send it).
  bool upgrade = false;       // A WebSocket upgrade request.
};

// Sends one piece of a streamed body; false once the client is gone or stalled (stop then).
using BodyWriter = std::function<bool(const std::string& piece)>;

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Set for a large body produced while it is sent (chunked), instead of `body`: the reply is
  // never held whole, and a reader that stalls stalls its producer.
  std::function<void(const BodyWriter& write)> stream;
};

// The body of `r` as one string (runs `stream` if set), for callers without a socket.
std::string WholeBody(const Response& r);

// A target split into a decoded path and decoded query parameters.
struct Url {
  std::string path;
  std::string raw_query;
  std::multimap<std::string, std::string> query;
};

// Splits and percent-decodes `target`. Returns false (and a one-line reason) for malformed
// escapes, NUL bytes, a target that is not an absolute path, or '.'/'..' segments.
bool ParseTarget(const std::string& target, Url* url, std::string* reason);

// Go's error response: text/plain, X-Go-Pprof set (pprof clients print the body only then).
Response ErrorResponse(int status, const std::string& reason);

// Waits `nanos`; false if the wait was cut short (the server is shutting down).
using Wait = std::function<bool(int64_t nanos)>;

// The text frames of a WebSocket, pulled by the transport.
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Waits up to `timeout_ms` for the next frame; false if none came.
  virtual bool Next(std::string* frame, int timeout_ms) = 0;
};

struct Application {
  // Answers a request. May block for the length of a profile window, waiting through `wait`.
  std::function<Response(const Request&, const Wait& wait)> handle;
  // A WebSocket upgrade request: the frames to send, or null to answer it with `handle`.
  std::function<std::unique_ptr<FrameSource>(const Request&)> upgrade;
};

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_HTTP_HTTP_H_
