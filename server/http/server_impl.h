// The server's insides, shared by its two halves: connections.cc accepts and reads (the I/O
// thread), http_server.cc answers (worker threads), starts and stops. Not for other packages.
#ifndef HOOKPROF_SERVER_HTTP_SERVER_IMPL_H_
#define HOOKPROF_SERVER_HTTP_SERVER_IMPL_H_

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server/http/http_server.h"

namespace hookprof {
namespace server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

inline constexpr int kMaxViewers = 16;            // WebSocket viewers at once.
inline constexpr int kViewerStallMillis = 3000;   // A viewer that reads nothing this long is cut.
inline constexpr int kStoppingSendMillis = 1000;  // An answer still goes out while stopping.
inline constexpr int kPollMillis = 100;           // How often a waiting window checks its client.

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

// A connection the stopping server will not read again: a request that came in (or part of
// one) is told why it goes unanswered. Its bytes are read away first: closing with unread
// input resets the connection, and the client would lose the answer.
void TellUnreadRequestsTheServerStops(Connection& c);

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_HTTP_SERVER_IMPL_H_
