#include "server/router.h"

#include <string.h>

#include <algorithm>

#include "runtime/charts/metrics.h"
#include "server/endpoints/endpoint.h"

namespace hookprof {
namespace server {
namespace {

// Compares in time that depends only on the lengths, not on where the first difference is.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

bool EqualsIgnoringCase(const std::string& a, const char* b) {
  return strcasecmp(a.c_str(), b) == 0;
}

// "Authorization: Bearer <token>"; the scheme is case-insensitive (RFC 9110, 11.1).
bool Authorized(const Request& req, const Env& env) {
  if (env.token.empty()) return true;
  const size_t space = req.authorization.find(' ');
  const std::string scheme = req.authorization.substr(0, space);
  const std::string token = space == std::string::npos ? "" : req.authorization.substr(space + 1);
  return EqualsIgnoringCase(scheme, "bearer") & ConstantTimeEquals(token, env.token);
}

// The host part of a Host header or of an origin's authority: "[::1]:8900" -> "::1".
std::string HostName(const std::string& authority) {
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    return close == std::string::npos ? authority : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

// 127.x.y.z in dotted decimal, strictly: four parts of one to three digits, each at most 255
// (sscanf's %u would take "4294967423" and wrap it to 127).
bool IsLoopbackAddress(const std::string& host) {
  int parts = 0, value = 0, digits = 0, first = -1;
  for (size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      if (digits == 0 || value > 255) return false;
      if (parts++ == 0) first = value;
      value = digits = 0;
    } else if (host[i] >= '0' && host[i] <= '9' && digits < 3) {
      value = value * 10 + (host[i] - '0');
      ++digits;
    } else {
      return false;
    }
  }
  return parts == 4 && first == 127;
}

bool IsLoopbackName(const std::string& host) {
  return EqualsIgnoringCase(host, "localhost") || host == "::1" || IsLoopbackAddress(host);
}

// DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 still sends
// "Host: evil.example". A loopback server answers only its own names.
bool HostAllowed(const Request& req, const Env& env) {
  if (!env.loopback_only || req.host.empty()) return true;  // HTTP/1.0 may send none.
  const std::string host = HostName(req.host);
  if (IsLoopbackName(host)) return true;
  for (const std::string& allowed : env.allowed_hosts) {
    if (EqualsIgnoringCase(host, allowed.c_str())) return true;
  }
  return false;
}

// A browser sends Origin with cross-site requests; one that changes state (or opens a
// WebSocket) must come from a page of this server.
bool SameOrigin(const Request& req) {
  if (req.origin.empty()) return true;  // Not a browser: pprof, curl, scrapers.
  const size_t scheme = req.origin.find("://");
  return scheme != std::string::npos && !req.host.empty() &&
         EqualsIgnoringCase(req.origin.substr(scheme + 3), req.host.c_str());
}

bool AllowMethod(const Request& req, Methods methods, Response* error) {
  const bool post = methods == Methods::kGetPost || methods == Methods::kGetStatePost;
  if (methods == Methods::kAny || req.method == "GET" || req.method == "HEAD" ||
      (post && req.method == "POST")) {
    return true;
  }
  *error = ErrorResponse(405, "method not allowed: " + req.method);
  error->headers.emplace_back("Allow", post ? "GET, HEAD, POST" : "GET, HEAD");
  return false;
}

// The route's query keys; anything else is a 400 naming the keys taken, rather than silently
// ignored, and so is a key given twice that is not repeatable (Route::keys).
bool KnownKeys(const Route& route, const Url& url, Response* error) {
  const std::string keys = route.keys != nullptr ? route.keys : "";
  for (const auto& [key, value] : url.query) {
    const bool repeatable = ("," + keys + ",").find("," + key + "*,") != std::string::npos;
    if (!repeatable && url.query.count(key) > 1) {
      *error = ErrorResponse(400, "query parameter \"" + key + "\" given more than once");
      return false;
    }
    if (route.keys == nullptr || repeatable) continue;
    if (!key.empty() && ("," + keys + ",").find("," + key + ",") != std::string::npos) continue;
    std::string taken = keys;
    for (size_t i = 0; (i = taken.find(',', i)) != std::string::npos; i += 2) {
      taken.replace(i, 1, ", ");
    }
    *error = ErrorResponse(400, "unknown query parameter \"" + key + "\" (" + route.name +
                                    " takes " + (keys.empty() ? "no parameters" : taken) + ")");
    return false;
  }
  return true;
}

// Holds one of the open profile windows for a request's lifetime (null: not a window).
class WindowSlot {
 public:
  explicit WindowSlot(std::atomic<int>* open)
      : open_(open), count_(open != nullptr ? open->fetch_add(1) + 1 : 0) {}
  ~WindowSlot() {
    if (open_ != nullptr) open_->fetch_sub(1);
  }
  int count() const { return count_; }

 private:
  std::atomic<int>* open_;
  int count_;
};

// The route for `path` (already inside the context path unless root), or nullptr.
const Route* Match(const std::string& path, bool root, std::string* name) {
  size_t n = 0;
  const Route* routes = Routes(&n);
  for (const Route* r = routes; r != routes + n; ++r) {
    if (r->root != root) continue;
    const size_t len = strlen(r->path);
    if (r->prefix ? path.compare(0, len, r->path) == 0 : path == r->path) {
      *name = r->prefix ? path.substr(len) : path.substr(path.rfind('/') + 1);
      return r;
    }
  }
  return nullptr;
}

Response Dispatch(const Route& route, const std::string& name, const Request& req, const Url& url,
                  const Env& env, bool legacy = false) {
  Response error;
  if (!AllowMethod(req, route.methods, &error)) return error;
  if (route.methods == Methods::kGetStatePost && req.method == "POST" && !SameOrigin(req)) {
    return ErrorResponse(403, "cross-origin request refused: Origin " + req.origin +
                                  " is not this server (" + req.host + ")");
  }
  if (!KnownKeys(route, url, &error)) return error;
  const bool window = route.window == Window::kAlways ||
                      (route.window == Window::kWithSeconds && url.query.count("seconds") != 0);
  if (window && req.method == "HEAD") {
    // What GET would answer is only known at the window's end: HEAD opens no window.
    Response r;
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("X-Hookprof-Head", "the window is only opened by GET");
    return r;
  }
  WindowSlot slot(window ? env.open_windows.get() : nullptr);
  if (window && slot.count() > env.max_profile_windows) {
    return ErrorResponse(503, "too many profile windows open at once (limit " +
                                  std::to_string(env.max_profile_windows) + "); retry later");
  }
  return route.handler(Call{req, url, env, name, legacy});
}

// The charts' live frames, for the transport's WebSocket.
class ChartFrames : public FrameSource {
 public:
  bool Next(std::string* frame, int timeout_ms) override { return viewer_->Pop(frame, timeout_ms); }

 private:
  std::shared_ptr<runtime::MetricsViewer> viewer_ = runtime::SubscribeMetrics();
};

}  // namespace

bool NormalizeContextPath(const std::string& in, std::string* out) {
  std::string p = in;
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (!p.empty() && p[0] != '/') p = "/" + p;
  Url url;
  std::string reason;
  if (!p.empty() && (!ParseTarget(p, &url, &reason) || url.path != p || !url.raw_query.empty() ||
                     p.find_first_of("%?#\" <>\\") != std::string::npos ||
                     std::any_of(p.begin(), p.end(), [](char c) {
                       return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                     }))) {
    return false;
  }
  *out = p;
  return true;
}

namespace {

Response Answer(const Request& req, const Env& env, const char** endpoint) {
  if (!HostAllowed(req, env)) {
    return ErrorResponse(421, "misdirected request: Host " + req.host +
                                  " is not a loopback name of this server (HOOKPROF_ALLOWED_HOSTS "
                                  "adds names)");
  }
  if (!Authorized(req, env)) {
    Response r = ErrorResponse(401, "unauthorized: send \"Authorization: Bearer <token>\"");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hookprof\"");
    return r;
  }
  Url url;
  std::string reason;
  if (!ParseTarget(req.target, &url, &reason)) return ErrorResponse(400, reason);
  if (req.upgrade && !SameOrigin(req)) {
    return ErrorResponse(403, "cross-origin WebSocket refused: Origin " + req.origin +
                                  " is not this server (" + req.host + ")");
  }
  std::string name;
  if (const Route* root = Match(url.path, true, &name)) {
    *endpoint = root->name;
    return Dispatch(*root, name, req, url, env);
  }
  const std::string& ctx = env.context_path;
  if (url.path.compare(0, ctx.size(), ctx) != 0 ||
      (url.path.size() > ctx.size() && url.path[ctx.size()] != '/')) {
    return ErrorResponse(
        404, "not found: " + url.path + " is outside " + (ctx.empty() ? std::string("/") : ctx));
  }
  std::string rest = url.path.substr(ctx.size());
  if (env.metrics_path != "/metrics") {  // Configured elsewhere: moved, not copied.
    if (rest == "/metrics") {
      return ErrorResponse(
          404, "not found: " + url.path + " (the metrics are at " + ctx + env.metrics_path + ")");
    }
    if (rest == env.metrics_path) rest = "/metrics";
  }
  // gperftools' pprof reads legacy formats and finds the symbol page next to the profile: the
  // pprof directory again under /debug/legacy/, in those formats.
  constexpr char kLegacy[] = "/debug/legacy/pprof/";
  const bool legacy = rest.compare(0, sizeof(kLegacy) - 1, kLegacy) == 0;
  if (legacy) rest = "/debug/pprof/" + rest.substr(sizeof(kLegacy) - 1);
  if (const Route* route = Match(rest, false, &name)) {
    *endpoint = route->name;
    return Dispatch(*route, name, req, url, env, legacy);
  }
  constexpr char kPprof[] = "/debug/pprof/";
  if (rest.compare(0, sizeof(kPprof) - 1, kPprof) == 0) {
    return ErrorResponse(404, "Unknown profile: " + rest.substr(sizeof(kPprof) - 1));
  }
  return ErrorResponse(404, "not found: " + url.path);
}

}  // namespace

Response HandleRequest(const Request& req, const Env& env) {
  const char* endpoint = "none";  // Refused before a route matched, or no route.
  Response r = Answer(req, env, &endpoint);
  CountAnswer(endpoint, r.status);
  return r;
}

Application MakeApplication(const Env& env) {
  Application app;
  app.handle = [env](const Request& req, const Wait& wait) {
    Env e = env;
    e.wait = wait;
    return HandleRequest(req, e);
  };
  app.upgrade = [env](const Request& req) -> std::unique_ptr<FrameSource> {
    const std::string path = req.target.substr(0, req.target.find('?'));
    // Anything else (a wrong token, a foreign host or origin) goes on to HandleRequest, which
    // says why.
    if (path != env.context_path + "/debug/charts/ws" || !HostAllowed(req, env) ||
        !Authorized(req, env) || !SameOrigin(req)) {
      return nullptr;
    }
    return std::make_unique<ChartFrames>();
  };
  return app;
}

}  // namespace server
}  // namespace hookprof
