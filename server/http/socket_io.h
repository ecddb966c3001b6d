// Blocking writes with a deadline and the small pieces of HTTP/1.1 and WebSocket framing the
// transport writes itself, on a connected socket's descriptor. A worker thread owns the socket
// while it answers a request: nothing else reads or writes it meanwhile.
//
// Thread-safety: functions of their arguments; one thread per descriptor at a time.
#ifndef HOOKPROF_SERVER_HTTP_SOCKET_IO_H_
#define HOOKPROF_SERVER_HTTP_SOCKET_IO_H_

#include <stdint.h>

#include <string>

#include "server/http/http.h"

namespace hookprof {
namespace server {

// Sends all of `data` unless the peer takes none of it for `timeout_ms` (a reader that stalls
// is cut off: its worker and reply are not held for ever) or the connection fails.
bool SendAll(int fd, const char* data, size_t size, int timeout_ms);
inline bool SendAll(int fd, const std::string& data, int timeout_ms) {
  return SendAll(fd, data.data(), data.size(), timeout_ms);
}

// Whether the peer has closed its side or reset the connection (a window waiting for it can
// stop). Pipelined bytes it sent are left unread.
bool PeerGone(int fd);

// The status line and headers of `r`, ending with the blank line. With `chunked`, the body
// follows in chunks (HTTP/1.1) or until the connection closes (HTTP/1.0); otherwise
// Content-Length is `content_length`.
std::string ResponseHead(const Response& r, unsigned version, bool keep_alive, bool chunked,
                         size_t content_length);

// One chunk of a chunked body ("" is the last, empty one).
std::string Chunk(const std::string& data);

// A server-to-client WebSocket text frame (unmasked, RFC 6455 section 5.2).
std::string WebSocketTextFrame(const std::string& payload);
// A ping frame (the peer's WebSocket answers it with a pong when it reads).
std::string WebSocketPingFrame();
// Reads and drops what the peer sent, without waiting. Returns -1 if the peer closed (or sent
// a close frame, as far as the first byte read shows), else the number of bytes read.
long DrainPeer(int fd);

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_HTTP_SOCKET_IO_H_
