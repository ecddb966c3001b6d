// The transport: an HTTP/1.1 server on Boost.Beast's asynchronous model for an Application
// (http.h). One I/O thread reads requests and keeps idle connections (a socket each, no
// thread); each request, once read, is answered on a worker thread (a profile window blocks
// its own worker, never the others), whose wait ends early when the client leaves. Bounded
// header and body sizes; idle, request and send timeouts; at the connection limit the oldest
// idle connection makes room; streamed bodies (chunked) under the socket's backpressure;
// strict about Transfer-Encoding and Host; WebSocket upgrades the application accepts,
// bounded in number. It knows no route and checks no credentials: the application does both.
// Every thread it starts is marked internal: hooks ignore it.
//
// Thread-safety: Start and Stop from one thread; the handler runs on connection threads.
#ifndef HOOKPROF_SERVER_HTTP_HTTP_SERVER_H_
#define HOOKPROF_SERVER_HTTP_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/http/http.h"

namespace hookprof {
namespace server {

struct ServerOptions {
  std::string address = "127.0.0.1:8900";  // host:port, [v6]:port; port 0 picks a free one.
  int max_connections = 256;  // Open at once; at the limit the oldest idle one is closed.
  int idle_timeout_seconds = 30;
  // Profiles expose the program's code and data: only loopback addresses unless this is set.
  bool allow_remote = false;
  // Chart viewers are pinged this often; one that sends nothing back (no pong: it is not
  // reading) for `viewer_silence_millis` is cut and its slot freed. Frames are small, so a
  // viewer that never reads would otherwise never fill its send buffer and never be noticed.
  int viewer_ping_millis = 5000;
  int viewer_silence_millis = 15000;
};

class HttpServer {
 public:
  // Binds and starts serving `app`. Returns nullptr with `error` set on failure.
  static std::unique_ptr<HttpServer> Start(const ServerOptions& options, Application app,
                                           std::string* error);
  ~HttpServer();

  int port() const;
  // What the server holds now, and what it turned away since it started.
  struct Connections {
    int open = 0;         // Sockets, idle or busy.
    int idle = 0;         // Kept alive, waiting for their next request.
    int busy = 0;         // Requests being answered (a profile window is one).
    int viewers = 0;      // WebSocket chart viewers.
    int64_t evicted = 0;  // Idle connections closed to make room at the limit.
    int64_t refused = 0;  // Connections answered 503: at the limit, every one busy.
  };
  Connections connections() const;
  // Stops accepting, interrupts profile windows, closes connections, joins threads.
  void Stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_HTTP_HTTP_SERVER_H_
