#include "server/http/http.h"

#include <stdio.h>

namespace hookprof {
namespace server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Unescape(const std::string& in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out->push_back(c);
  }
  return true;
}

}  // namespace

bool ParseTarget(const std::string& target, Url* url, std::string* reason) {
  if (target.empty() || target[0] != '/') {
    *reason = "request target must be an absolute path";
    return false;
  }
  const size_t q = target.find('?');
  const std::string raw_path = target.substr(0, q);
  url->raw_query = q == std::string::npos ? "" : target.substr(q + 1);
  if (!Unescape(raw_path, false, &url->path)) {
    *reason = "malformed percent-encoding in path";
    return false;
  }
  // A path means what it spells: an escaped '/' would be a separator no client meant, and
  // control characters name nothing here.
  for (size_t i = 0; i + 2 < raw_path.size(); ++i) {
    if (raw_path[i] == '%' && raw_path[i + 1] == '2' && (raw_path[i + 2] | 0x20) == 'f') {
      *reason = "an escaped '/' (%2F) in the path is not allowed";
      return false;
    }
  }
  for (char c : url->path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      *reason = "control characters are not allowed in paths";
      return false;
    }
  }
  // No dot segments and no empty segments: nothing here maps to files, but an ambiguous path
  // must not reach a handler under another name.
  size_t start = 1;
  while (start <= url->path.size()) {
    size_t end = url->path.find('/', start);
    if (end == std::string::npos) end = url->path.size();
    const std::string seg = url->path.substr(start, end - start);
    if (seg == "." || seg == "..") {
      *reason = "dot segments are not allowed in paths";
      return false;
    }
    if (seg.empty() && end != url->path.size()) {
      *reason = "empty path segments are not allowed";
      return false;
    }
    start = end + 1;
  }
  url->query.clear();
  size_t pos = 0;
  const std::string& rq = url->raw_query;
  while (pos < rq.size()) {
    size_t amp = rq.find('&', pos);
    if (amp == std::string::npos) amp = rq.size();
    const std::string pair = rq.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string key, value;
    if (!Unescape(pair.substr(0, eq), true, &key) ||
        (eq != std::string::npos && !Unescape(pair.substr(eq + 1), true, &value))) {
      *reason = "malformed percent-encoding in query";
      return false;
    }
    url->query.emplace(std::move(key), std::move(value));
  }
  return true;
}

Response ErrorResponse(int status, const std::string& reason) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("X-Go-Pprof", "1");
  // One line whatever the reason quotes from the request: control characters (a decoded %0a
  // in a path) are written as \xNN.
  for (char c : reason) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char esc[5];
      snprintf(esc, sizeof(esc), "\\x%02x", u);
      r.body += esc;
    } else {
      r.body += c;
    }
  }
  r.body += "\n";
  return r;
}

std::string WholeBody(const Response& r) {
  if (!r.stream) return r.body;
  std::string body;
  r.stream([&body](const std::string& piece) {
    body += piece;
    return true;
  });
  return body;
}

}  // namespace server
}  // namespace hookprof
