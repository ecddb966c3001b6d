// The workers' half of the server: answering a request (or serving a chart viewer) on a thread of
// its own, a window's wait, start and stop. connections.cc is the I/O thread's half.
#include "server/http/http_server.h"

#include <pthread.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>

#include "instrument/state/thread_state.h"
#include "server/http/server_impl.h"
#include "server/http/socket_io.h"

namespace hookprof {
namespace server {
namespace {

namespace websocket = beast::websocket;

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

}  // namespace

bool HttpServer::Impl::WaitForWindow(int fd, int64_t nanos) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(nanos);
  std::unique_lock<std::mutex> lock(mu);
  for (;;) {
    if (stopping) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    cv.wait_for(lock, std::min<std::chrono::steady_clock::duration>(
                          deadline - now, std::chrono::milliseconds(kPollMillis)));
    if (stopping) return false;
    lock.unlock();
    const bool gone = PeerGone(fd);  // A client that left frees its window now.
    lock.lock();
    if (gone) return false;
  }
}

void HttpServer::Impl::Answer(std::shared_ptr<Connection> c) {
  instrument::MarkCurrentThreadInternal();
  const auto& req = c->parser->get();
  const int fd = c->socket.native_handle();
  Request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.body = req.body();
  r.user_agent = std::string(req[http::field::user_agent]);
  r.authorization = std::string(req[http::field::authorization]);
  r.host = std::string(req[http::field::host]);
  r.origin = std::string(req[http::field::origin]);
  r.accept = std::string(req[http::field::accept]);
  r.upgrade = websocket::is_upgrade(req);
  bool keep_alive = req.keep_alive();
  std::unique_ptr<FrameSource> source;
  if (r.upgrade && app.upgrade) source = app.upgrade(r);
  if (source != nullptr) {
    ServeViewer(*c, req, std::move(source));
    keep_alive = false;
  } else {
    const Response resp =
        app.handle(r, [this, fd](int64_t nanos) { return WaitForWindow(fd, nanos); });
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) keep_alive = false;  // The answer (503 for a cut window) still goes out.
    }
    const bool head = req.method() == http::verb::head;
    const int timeout = SendTimeoutMillis();
    bool sent;
    if (resp.stream && !head) {
      // HTTP/1.0 has no chunks: the body ends when the connection does.
      const bool chunks = req.version() >= 11;
      keep_alive &= chunks;
      sent = SendAll(fd, ResponseHead(resp, req.version(), keep_alive, true, 0), timeout);
      resp.stream([&](const std::string& piece) {
        sent = sent && (piece.empty() || SendAll(fd, chunks ? Chunk(piece) : piece, timeout));
        return sent;
      });
      if (chunks) sent = sent && SendAll(fd, Chunk(""), timeout);
    } else {
      // HEAD: Content-Length says what GET would send.
      sent = SendAll(fd, ResponseHead(resp, req.version(), keep_alive, false, resp.body.size()),
                     timeout) &&
             (head || SendAll(fd, resp.body, timeout));
    }
    keep_alive &= sent;
  }
  if (!keep_alive) ::shutdown(fd, SHUT_RDWR);
  bool again;
  {
    std::lock_guard<std::mutex> lock(mu);
    again = keep_alive && !stopping;
    if (again) {  // Idle from now: if the server stops before Read runs, Stop finds it.
      MarkIdle(c.get());
    } else {
      if (keep_alive) TellUnreadRequestsTheServerStops(*c);
      Forget(c.get());
    }
  }
  if (again) asio::post(io, [this, c] { Read(c); });  // Back to the I/O thread.
  Leave(std::move(c));
}

void HttpServer::Impl::Leave(std::shared_ptr<Connection> c) {
  // The connection (its socket belongs to `io`) goes before the count does: once the count is
  // zero, Stop may free the server and its io_context.
  c.reset();
  std::lock_guard<std::mutex> lock(mu);
  --workers;
  cv.notify_all();  // Under the lock: Stop cannot free cv before this returns.
}

void HttpServer::Impl::ServeViewer(Connection& c, const http::request<http::string_body>& req,
                                   std::unique_ptr<FrameSource> source) {
  pthread_setname_np(pthread_self(), "hookprof-ws");  // Its cost is measured by name.
  const int fd = c.socket.native_handle();
  {
    std::lock_guard<std::mutex> lock(mu);
    if (viewers >= kMaxViewers) {
      const Response r =
          ErrorResponse(503, "too many chart viewers (limit " + std::to_string(kMaxViewers) + ")");
      SendAll(fd, ResponseHead(r, 11, false, false, r.body.size()) + r.body, kStoppingSendMillis);
      return;
    }
    ++viewers;
  }
  beast::error_code ec;
  {
    websocket::stream<tcp::socket&> ws(c.socket);  // The handshake only.
    ws.accept(req, ec);
  }
  // Frames are written here, with a deadline: a viewer that stops reading for a few seconds
  // is cut off, and the source's queue (bounded, dropping the oldest) never grows. Pings find
  // the viewers that read nothing at all (their pongs never come).
  using Clock = std::chrono::steady_clock;
  const auto ping_every = std::chrono::milliseconds(options.viewer_ping_millis);
  const auto silence = std::chrono::milliseconds(options.viewer_silence_millis);
  auto heard = Clock::now(), pinged = Clock::now();
  std::string frame;
  while (!ec) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) break;
    }
    const long got = DrainPeer(fd);
    if (got < 0) break;
    const auto now = Clock::now();
    if (got > 0) heard = now;
    if (now - heard > silence) break;
    if (now - pinged >= ping_every) {
      if (!SendAll(fd, WebSocketPingFrame(), kViewerStallMillis)) break;
      pinged = now;
    }
    if (!source->Next(&frame, 250)) continue;
    if (!SendAll(fd, WebSocketTextFrame(frame), kViewerStallMillis)) break;
  }
  std::lock_guard<std::mutex> lock(mu);
  --viewers;
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Stop();
  // A worker that did not leave in time still uses the server: leak it rather than free it
  // under that thread.
  bool drained;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    drained = impl_->workers == 0;
  }
  if (!drained) impl_.release();
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
  raw->Accept();
  // The I/O thread, and the workers it starts, block the program's signals from their first
  // instruction.
  instrument::ProgramSignalsBlocked blocked;
  raw->io_thread = std::thread([raw] {
    instrument::MarkCurrentThreadInternal();
    pthread_setname_np(pthread_self(), "hookprof-io");
    raw->io.run();
    std::lock_guard<std::mutex> lock(raw->mu);
    raw->io_done = true;
    raw->cv.notify_all();
  });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

HttpServer::Connections HttpServer::connections() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Connections out;
  out.open = impl_->connections;
  out.idle = static_cast<int>(impl_->idle.size());
  out.busy = impl_->workers;
  out.viewers = impl_->viewers;
  out.evicted = impl_->evicted;
  out.refused = impl_->refused;
  return out;
}

void HttpServer::Stop() {
  Impl* impl = impl_.get();
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    if (impl->stopping) return;
    impl->stopping = true;
  }
  impl->cv.notify_all();  // Windows end now and say the server is stopping.
  // No more connections (a listening socket shut down refuses them); a request read whole
  // from now on gets 503 (OnRead), and no connection reads another (Read sees `stopping`).
  ::shutdown(impl->acceptor.native_handle(), SHUT_RDWR);
  {
    // Workers finish their answers (a bounded send) and leave.
    std::unique_lock<std::mutex> lock(impl->mu);
    impl->cv.wait_for(lock, std::chrono::seconds(5), [impl] { return impl->workers == 0; });
  }
  // Reads still pending are cancelled, not dropped: their handlers run, so bytes a read
  // already took from a socket reach OnRead, and a request read whole (or in part) is told
  // the server stops. With nothing left to do, run() returns; io.stop() only if it does not.
  asio::post(impl->io, [impl] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    std::lock_guard<std::mutex> lock(impl->mu);
    for (Connection* c : impl->idle) {
      c->timer.cancel();
      c->socket.cancel(ignored);
    }
  });
  {
    std::unique_lock<std::mutex> lock(impl->mu);
    impl->cv.wait_for(lock, std::chrono::seconds(2), [impl] { return impl->io_done; });
  }
  impl->io.stop();
  if (impl->io_thread.joinable()) impl->io_thread.join();
  // The I/O thread is gone: its objects may be closed from here.
  beast::error_code ec;
  impl->acceptor.close(ec);
  std::lock_guard<std::mutex> lock(impl->mu);
  for (Connection* c : impl->idle) {
    TellUnreadRequestsTheServerStops(*c);
    c->socket.close(ec);
  }
}

}  // namespace server
}  // namespace hookprof
