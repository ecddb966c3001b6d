// A raw loopback HTTP client for the server tests: bytes in, bytes out, no parsing beyond
// counting complete responses.
#ifndef HOOKPROF_TESTS_RAW_CLIENT_H_
#define HOOKPROF_TESTS_RAW_CLIENT_H_

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

namespace hookprof {
namespace testing {

// A raw client: sends bytes, reads until the peer closes or `timeout_ms` passes.
class RawClient {
 public:
  // `receive_buffer` > 0 shrinks the socket's receive buffer (a reader that stalls sooner).
  explicit RawClient(int port, int receive_buffer = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& data) {
    ASSERT_EQ(send(fd_, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
  }
  // Reads until `count` complete responses (by Content-Length) arrived, or close/timeout.
  std::string Read(int count = 1, int timeout_ms = 10000) {
    timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string out;
    char buf[65536];
    while (Complete(out) < count) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, n);
    }
    return out;
  }
  std::string ReadUntilClose(int timeout_ms = 5000) {
    timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return out;
      out.append(buf, n);
    }
  }
  // True if the server closed the connection (EOF).
  bool Closed(int timeout_ms = 5000) {
    timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    return recv(fd_, &c, 1, 0) == 0;
  }

 private:
  static int Complete(const std::string& s) {
    int n = 0;
    size_t pos = 0;
    for (;;) {
      const size_t end = s.find("\r\n\r\n", pos);
      if (end == std::string::npos) return n;
      size_t len = 0;
      const size_t cl = s.find("Content-Length: ", pos);
      if (cl != std::string::npos && cl < end) len = std::stoul(s.substr(cl + 16));
      if (s.size() < end + 4 + len) return n;
      ++n;
      pos = end + 4 + len;
    }
  }
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace testing
}  // namespace hookprof

#endif  // HOOKPROF_TESTS_RAW_CLIENT_H_
