// The I/O thread's half of the server: accepting connections, reading requests (with their
// limits and timeouts), refusing what the transport cannot take, and handing each request to a
// worker (http_server.cc).
#include <sys/socket.h>

#include <chrono>
#include <iterator>

#include "instrument/state/thread_state.h"
#include "server/http/server_impl.h"
#include "server/http/socket_io.h"

namespace hookprof {
namespace server {
namespace {

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

}  // namespace server
}  // namespace hookprof
