// The HTTP layer's own request and response types: handlers are plain functions from one to
// the other, so they are testable without sockets and mountable in any server.
#ifndef HOOKPROF_SERVER_HTTP_H_
#define HOOKPROF_SERVER_HTTP_H_

#include <map>
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
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

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

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_HTTP_H_
