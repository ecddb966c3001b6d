#include "server/http_server.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "instrument/thread_state.h"

namespace hookprof {
namespace server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
  ServerOptions options;
  Application app;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread accept_thread;

  std::mutex mu;
  std::condition_variable cv;  // Signalled on stop and when a connection ends.
  bool stopping = false;
  int connections = 0;
  // Open connections (native handles) and the time by which each must make progress: a
  // whole request must arrive within the idle timeout of the previous response (so a client
  // trickling its headers is cut off too), a response must be written within it. Blocking
  // socket options cannot do this (asio waits in poll), so a watchdog shuts sockets down.
  std::map<int, std::chrono::steady_clock::time_point> deadlines;
  std::thread watchdog_thread;

  void SetDeadline(int fd, bool armed) {
    std::lock_guard<std::mutex> lock(mu);
    deadlines[fd] = armed ? std::chrono::steady_clock::now() +
                                std::chrono::seconds(options.idle_timeout_seconds)
                          : std::chrono::steady_clock::time_point::max();
  }
  void Watchdog();

  // Handlers wait through this: a stopping server cuts their windows short.
  server::Wait wait;
  bool WaitUnlessStopping(int64_t nanos) {
    std::unique_lock<std::mutex> lock(mu);
    return !cv.wait_for(lock, std::chrono::nanoseconds(nanos), [this] { return stopping; });
  }

  void AcceptLoop();
  // A connection's thread: serves it, destroys its socket, then leaves the count. Nothing of
  // the server is touched after that, so Stop may free it once the count is zero.
  void Serve(std::unique_ptr<tcp::socket> socket);
  void ServeRequests(tcp::socket& socket);
  // An upgraded connection: the source's frames, until the client leaves or the server stops.
  void ServeWebSocket(tcp::socket& socket, const http::request<http::string_body>& req,
                      std::unique_ptr<FrameSource> source);
  // Whether every connection thread has left (Stop waits a bounded time).
  bool drained = true;
};

namespace {

bool ParseAddress(const std::string& address, std::string* host, unsigned short* port,
                  std::string* error) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    *error = "address \"" + address + "\" has no port (want host:port)";
    return false;
  }
  *host = address.substr(0, colon);
  if (host->size() >= 2 && (*host)[0] == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (host->empty()) *host = "127.0.0.1";
  const std::string p = address.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(p) > 65535) {
    *error = "address \"" + address + "\" has an invalid port";
    return false;
  }
  *port = static_cast<unsigned short>(std::stoi(p));
  return true;
}

http::response<http::string_body> ToBeast(const Response& r, unsigned version, bool keep_alive,
                                          bool head) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "hookprof");
  res.set(http::field::content_type, r.content_type);
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& h : r.headers) res.set(h.first, h.second);
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length still says what GET would send.
  return res;
}

}  // namespace

void HttpServer::Impl::AcceptLoop() {
  instrument::MarkCurrentThreadInternal();
  for (;;) {
    beast::error_code ec;
    tcp::socket socket(io);
    acceptor.accept(socket, ec);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) return;
    }
    if (ec) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE and the like.
      continue;
    }
    bool over = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (connections >= options.max_connections) {
        over = true;
      } else {
        ++connections;
        deadlines[socket.native_handle()] =
            std::chrono::steady_clock::now() + std::chrono::seconds(options.idle_timeout_seconds);
      }
    }
    if (over) {
      const Response r = ErrorResponse(503, "too many connections");
      auto res = ToBeast(r, 11, false, false);
      // Best effort and never blocking the accept loop: a client that does not read is dropped.
      socket.non_blocking(true, ec);
      http::write(socket, res, ec);
      socket.close(ec);
      continue;
    }
    std::thread(&Impl::Serve, this, std::make_unique<tcp::socket>(std::move(socket))).detach();
  }
}

void HttpServer::Impl::Watchdog() {
  instrument::MarkCurrentThreadInternal();
  std::unique_lock<std::mutex> lock(mu);
  while (!cv.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping; })) {
    const auto now = std::chrono::steady_clock::now();
    for (auto& d : deadlines) {
      if (d.second <= now) {
        ::shutdown(d.first, SHUT_RDWR);  // The connection's thread sees an error and ends.
        d.second = std::chrono::steady_clock::time_point::max();
      }
    }
  }
}

void HttpServer::Impl::Serve(std::unique_ptr<tcp::socket> socket) {
  instrument::MarkCurrentThreadInternal();
  ServeRequests(*socket);
  socket.reset();
  std::lock_guard<std::mutex> lock(mu);
  --connections;
  cv.notify_all();  // Under the lock: Stop cannot free cv before this returns.
}

void HttpServer::Impl::ServeWebSocket(tcp::socket& socket,
                                      const http::request<http::string_body>& req,
                                      std::unique_ptr<FrameSource> source) {
  pthread_setname_np(pthread_self(), "hookprof-ws");  // Its cost is measured by name.
  const int fd = socket.native_handle();
  websocket::stream<tcp::socket&> ws(socket);
  beast::error_code ec;
  ws.accept(req, ec);
  if (ec) return;
  ws.text(true);
  // A source that stalls holds no deadline; a client that stops reading is cut off by the idle
  // deadline while a frame is being written.
  std::string frame;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) break;
    }
    SetDeadline(fd, false);
    if (!source->Next(&frame, 250)) continue;
    SetDeadline(fd, true);
    ws.write(asio::buffer(frame), ec);
    if (ec) break;
  }
}

void HttpServer::Impl::ServeRequests(tcp::socket& socket) {
  const int fd = socket.native_handle();
  beast::flat_buffer buffer;
  for (;;) {
    SetDeadline(fd, true);
    http::request_parser<http::string_body> parser;
    parser.header_limit(8 * 1024);
    parser.body_limit(1024 * 1024);
    beast::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec) {
      int status = 0;
      std::string reason;
      if (ec == http::error::header_limit) {
        status = 431;
        reason = "request header fields too large (limit 8 KiB)";
      } else if (ec == http::error::body_limit) {
        status = 413;
        reason = "request body too large (limit 1 MiB)";
      } else if (ec.category() == beast::error_code(http::error::bad_target).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        status = 400;
        reason = "malformed HTTP request";
      }
      if (status != 0) {
        auto res = ToBeast(ErrorResponse(status, reason), 11, false, false);
        SetDeadline(fd, true);
        http::write(socket, res, ec);
      }
      break;
    }
    const auto& req = parser.get();
    Request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = req.body();
    r.user_agent = std::string(req[http::field::user_agent]);
    r.authorization = std::string(req[http::field::authorization]);
    if (websocket::is_upgrade(req) && app.upgrade) {
      if (std::unique_ptr<FrameSource> source = app.upgrade(r)) {
        ServeWebSocket(socket, req, std::move(source));
        break;
      }
    }
    SetDeadline(fd, false);  // A profile window may be long; the handler is not idle.
    const Response resp = app.handle(r, wait);
    SetDeadline(fd, true);
    bool keep_alive = req.keep_alive();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) {
        // The answer (a window cut short says 503) still goes out, then the connection closes;
        // the watchdog is gone, so a client that does not read gets a second.
        keep_alive = false;
        timeval tv = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      }
    }
    auto res = ToBeast(resp, req.version(), keep_alive, req.method() == http::verb::head);
    http::write(socket, res, ec);
    if (ec || !keep_alive) break;
  }
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  std::lock_guard<std::mutex> lock(mu);
  deadlines.erase(fd);
  socket.close(ec);
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Stop();
  // A connection thread that did not leave in time still uses the server: leak it rather than
  // free it under that thread.
  if (!impl_->drained) impl_.release();
}

std::unique_ptr<HttpServer> HttpServer::Start(const ServerOptions& options, Application app,
                                              std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->app = std::move(app);
  std::string host;
  unsigned short port = 0;
  if (!ParseAddress(options.address, &host, &port, error)) return nullptr;
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) {
    *error = "address \"" + options.address + "\": \"" + host + "\" is not an IP address";
    return nullptr;
  }
  if (!options.allow_remote && !ip.is_loopback()) {
    *error = "refusing to listen on " + options.address +
             ": not a loopback address, and profiles expose the program's code and data "
             "(set HOOKPROF_ALLOW_REMOTE=1, and HOOKPROF_TOKEN, to serve beyond this machine)";
    return nullptr;
  }
  const tcp::endpoint endpoint(ip, port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "cannot listen on " + options.address + ": " + ec.message();
    return nullptr;
  }
  Impl* raw = impl.get();
  raw->wait = [raw](int64_t nanos) { return raw->WaitUnlessStopping(nanos); };
  raw->accept_thread = std::thread(&Impl::AcceptLoop, raw);
  raw->watchdog_thread = std::thread(&Impl::Watchdog, raw);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::Stop() {
  Impl* impl = impl_.get();
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    if (impl->stopping) return;
    impl->stopping = true;
    // Idle connections are woken by closing them; those inside a handler (no deadline while
    // a window waits) are left to answer: their wait ends now and says the server is stopping.
    for (const auto& d : impl->deadlines) {
      if (d.second != std::chrono::steady_clock::time_point::max()) ::shutdown(d.first, SHUT_RDWR);
    }
  }
  impl->cv.notify_all();
  // A listening socket shut down wakes the thread blocked in accept().
  ::shutdown(impl->acceptor.native_handle(), SHUT_RDWR);
  if (impl->accept_thread.joinable()) impl->accept_thread.join();
  if (impl->watchdog_thread.joinable()) impl->watchdog_thread.join();
  std::unique_lock<std::mutex> lock(impl->mu);
  impl->drained =
      impl->cv.wait_for(lock, std::chrono::seconds(5), [impl] { return impl->connections == 0; });
}

}  // namespace server
}  // namespace hookprof
