#include "server/http/socket_io.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include <boost/beast/http/status.hpp>
#include <ostream>

namespace hookprof {
namespace server {

bool SendAll(int fd, const char* data, size_t size, int timeout_ms) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    pollfd p = {fd, POLLOUT, 0};
    const int ready = poll(&p, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0 || (p.revents & (POLLERR | POLLHUP)) != 0) return false;  // Stalled or gone.
  }
  return true;
}

bool PeerGone(int fd) {
  pollfd p = {fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
  char c;
  return (p.revents & POLLIN) != 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

std::string ResponseHead(const Response& r, unsigned version, bool keep_alive, bool chunked,
                         size_t content_length) {
  namespace http = boost::beast::http;
  std::string h = version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  h += std::to_string(r.status) + " ";
  h += std::string(http::obsolete_reason(static_cast<http::status>(r.status))) + "\r\n";
  h += "Server: hookprof\r\nContent-Type: " + r.content_type +
       "\r\nX-Content-Type-Options: nosniff\r\n";
  for (const auto& [name, value] : r.headers) h += name + ": " + value + "\r\n";
  if (!chunked) {
    h += "Content-Length: " + std::to_string(content_length) + "\r\n";
  } else if (version >= 11) {
    h += "Transfer-Encoding: chunked\r\n";
  }
  if (version >= 11 && !keep_alive) h += "Connection: close\r\n";
  if (version < 11 && keep_alive) h += "Connection: keep-alive\r\n";
  return h + "\r\n";
}

std::string Chunk(const std::string& data) {
  char size[24];
  snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

std::string WebSocketPingFrame() { return std::string("\x89\x00", 2); }  // FIN, ping, empty.

long DrainPeer(int fd) {
  char buf[4096];
  long total = 0;
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return -1;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? total : -1;
    // A frame that starts the read with opcode 8 is a close.
    if (total == 0 && (static_cast<unsigned char>(buf[0]) & 0x0f) == 0x8) return -1;
    total += n;
  }
}

std::string WebSocketTextFrame(const std::string& payload) {
  std::string f(1, static_cast<char>(0x81));  // FIN, text.
  const uint64_t n = payload.size();
  if (n < 126) {
    f += static_cast<char>(n);
  } else if (n <= 0xffff) {
    f += static_cast<char>(126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xff);
  } else {
    f += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((n >> shift) & 0xff);
  }
  return f + payload;
}

}  // namespace server
}  // namespace hookprof
