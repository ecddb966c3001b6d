#include "server/http/http_server.h"

#include <pthread.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "instrument/thread_state.h"
#include "server/http/socket_io.h"

namespace hookprof {
namespace server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr int kMaxViewers = 16;            // WebSocket viewers at once.
constexpr int kViewerStallMillis = 3000;   // A viewer that reads nothing this long is cut.
constexpr int kStoppingSendMillis = 1000;  // An answer still goes out while stopping.
constexpr int kPollMillis = 100;           // How often a waiting window checks its client.

// The connection's request, read on the I/O thread, answered on a worker.
struct Connection : std::enable_shared_from_this<Connection> {
  Connection(HttpServer::Impl* s, tcp::socket sock)
      : server(s), socket(std::move(sock)), timer(socket.get_executor()) {}
  HttpServer::Impl* server;
  tcp::socket socket;
  asio::steady_timer timer;
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  std::list<Connection*>::iterator idle_position;  // Valid while idle.
  bool idle = false;
  uint64_t last_use = 0;  // When its last request was read (or it was accepted), in reads.
  bool counted = true;    // Still counted among the open connections.
};

// A connection the stopping server will not read again: a request that came in (or part of
// one) is told why it goes unanswered. Its bytes are read away first: closing with unread
// input resets the connection, and the client would lose the answer.
void TellUnreadRequestsTheServerStops(Connection& c) {
  const int fd = c.socket.native_handle();
  char buf[4096];
  // Read already, into the buffer or the parser, by a read whose handler will not run now.
  bool pending = c.buffer.size() > 0 || (c.parser && c.parser->got_some());
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) break;
    pending = true;
  }
  if (!pending) return;
  const Response r = ErrorResponse(503, "the server is shutting down");
  const std::string answer = ResponseHead(r, 11, false, false, r.body.size()) + r.body;
  ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
}

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

// What the transport itself refuses, before any application sees the request: a status and
// reason, or 0.
int Refuse(const http::request<http::string_body>& req, std::string* reason) {
  const auto te = req.find(http::field::transfer_encoding);
  if (te != req.end() && !beast::iequals(te->value(), "chunked")) {
    // Anything else would be read as no body, and the bytes after it as the next request.
    *reason = "unsupported Transfer-Encoding: " + std::string(te->value());
    return 501;
  }
  if (req.version() >= 11 && req.count(http::field::host) != 1) {
    *reason = "an HTTP/1.1 request needs exactly one Host header";
    return 400;
  }
  return 0;
}

}  // namespace

// Threads: one I/O thread runs the acceptor, the reads of idle connections and their timers;
// a request, once read, is answered on a worker thread of its own, which then hands the
// connection back to the I/O thread. So an idle connection costs a socket, not a thread.
struct HttpServer::Impl {
  ServerOptions options;
  Application app;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread io_thread;

  std::mutex mu;
  std::condition_variable cv;  // Signalled on stop and when a worker ends.
  bool stopping = false;
  bool io_done = false;  // The I/O thread's run() returned. Under mu; cv signalled.
  int connections = 0;   // Open sockets, idle or busy.
  int workers = 0;       // Requests being answered.
  int viewers = 0;       // WebSocket viewers.
  // Least recently used first (by `last_use`): the first to make room at the limit.
  std::list<Connection*> idle;
  uint64_t uses = 0;  // Accepts and reads so far: the clock of `last_use`.
  int64_t evicted = 0;
  int64_t refused = 0;

  void Accept();
  void OnAccept(tcp::socket socket);
  // I/O thread: waits for the connection's next request, for at most the idle timeout.
  void Read(std::shared_ptr<Connection> c);
  void OnRead(std::shared_ptr<Connection> c, beast::error_code ec);
  void Forget(Connection* c);  // Under mu: no longer open.
  // Under mu. In order of last use, not of arrival in the list: answers end in any order
  // on their workers, and a worker can be held up between its last byte and this call.
  void MarkIdle(Connection* c);
  void Answer(std::shared_ptr<Connection> c);  // Worker thread.
  void Leave(std::shared_ptr<Connection> c);   // A worker's last act.
  bool WaitForWindow(int fd, int64_t nanos);
  void ServeViewer(Connection& c, const http::request<http::string_body>& req,
                   std::unique_ptr<FrameSource> source);
  int SendTimeoutMillis() {
    std::lock_guard<std::mutex> lock(mu);
    return stopping ? kStoppingSendMillis : options.idle_timeout_seconds * 1000;
  }
};

void HttpServer::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) OnAccept(std::move(socket));
    Accept();  // EMFILE and the like: go on with the next.
  });
}

void HttpServer::Impl::OnAccept(tcp::socket socket) {
  Connection* oldest = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (connections >= options.max_connections && !idle.empty()) {
      oldest = idle.front();  // The limit is reached: the oldest idle connection makes room.
      Forget(oldest);
      ++evicted;
    }
    if (connections >= options.max_connections) {
      // Every connection is busy answering: say so, without blocking the I/O thread.
      const Response r = ErrorResponse(503, "too many connections, all busy answering");
      const std::string refusal = ResponseHead(r, 11, false, false, r.body.size()) + r.body;
      ::send(socket.native_handle(), refusal.data(), refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ++refused;
      return;
    }
    ++connections;
  }
  if (oldest != nullptr) {
    beast::error_code ec;
    oldest->socket.close(ec);  // Its pending read ends with an error; it is then dropped.
  }
  auto c = std::make_shared<Connection>(this, std::move(socket));
  {
    std::lock_guard<std::mutex> lock(mu);
    c->last_use = ++uses;
  }
  Read(std::move(c));
}

void HttpServer::Impl::MarkIdle(Connection* c) {
  if (c->idle) return;
  auto it = idle.end();
  while (it != idle.begin() && (*std::prev(it))->last_use > c->last_use) --it;
  c->idle_position = idle.insert(it, c);
  c->idle = true;
}

void HttpServer::Impl::Forget(Connection* c) {
  if (c->idle) idle.erase(c->idle_position);
  c->idle = false;
  if (c->counted) --connections;
  c->counted = false;
}

void HttpServer::Impl::Read(std::shared_ptr<Connection> c) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping || !c->counted) {
      if (stopping) TellUnreadRequestsTheServerStops(*c);
      Forget(c.get());
      return;
    }
    MarkIdle(c.get());
  }
  c->parser.emplace();
  c->parser->header_limit(8 * 1024);
  c->parser->body_limit(1024 * 1024);
  // A whole request must arrive within the idle timeout (a client trickling its headers is
  // cut off too).
  c->timer.expires_after(std::chrono::seconds(options.idle_timeout_seconds));
  c->timer.async_wait([c](beast::error_code ec) {
    if (!ec) {
      beast::error_code ignored;
      c->socket.close(ignored);
    }
  });
  http::async_read(c->socket, c->buffer, *c->parser,
                   [this, c](beast::error_code ec, size_t) { OnRead(c, ec); });
}

void HttpServer::Impl::OnRead(std::shared_ptr<Connection> c, beast::error_code ec) {
  c->timer.cancel();
  int status = 0;
  std::string reason;
  if (ec == http::error::header_limit) {
    status = 431;
    reason = "request header fields too large (limit 8 KiB)";
  } else if (ec == http::error::body_limit) {
    status = 413;
    reason = "request body too large (limit 1 MiB)";
  } else if (ec && ec.category() == beast::error_code(http::error::bad_target).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    status = 400;
    reason = "malformed HTTP request";
  } else if (!ec) {
    status = Refuse(c->parser->get(), &reason);
  }
  std::lock_guard<std::mutex> lock(mu);
  if (c->idle) idle.erase(c->idle_position);
  c->idle = false;
  c->last_use = ++uses;
  if ((ec && status == 0) || !c->counted) {
    // Closed, timed out or evicted: dropped, unanswered; cancelled as the server stops: told
    // why if it had sent anything.
    if (stopping && c->counted) TellUnreadRequestsTheServerStops(*c);
    Forget(c.get());
    return;
  }
  if (stopping && status == 0) {  // A whole request, just too late: it is told why.
    status = 503;
    reason = "the server is shutting down";
  }
  ++workers;
  if (status != 0) {
    std::thread([this, c, status, reason]() mutable {
      instrument::MarkCurrentThreadInternal();
      const Response r = ErrorResponse(status, reason);
      SendAll(c->socket.native_handle(), ResponseHead(r, 11, false, false, r.body.size()) + r.body,
              SendTimeoutMillis());
      ::shutdown(c->socket.native_handle(), SHUT_RDWR);
      {
        std::lock_guard<std::mutex> lock(mu);
        Forget(c.get());
      }
      Leave(std::move(c));
    }).detach();
    return;
  }
  std::thread(&Impl::Answer, this, c).detach();
}

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
