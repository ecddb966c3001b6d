#include "server/endpoints/endpoint.h"

#include <map>
#include <mutex>
#include <utility>

namespace hookprof {
namespace server {
namespace {

// Answers by (route name, status): a bounded table (routes times the statuses they answer).
struct Answers {
  std::mutex mu;
  std::map<std::pair<std::string, int>, uint64_t> counts;
};
Answers& TheAnswers() {
  static Answers* a = new Answers();  // Never destroyed: requests may come in during exit.
  return *a;
}

}  // namespace

void CountAnswer(const char* endpoint, int status) {
  Answers& a = TheAnswers();
  std::lock_guard<std::mutex> lock(a.mu);
  ++a.counts[{endpoint, status}];
}

std::vector<AnswerCount> AnswerCounts() {
  Answers& a = TheAnswers();
  std::lock_guard<std::mutex> lock(a.mu);
  std::vector<AnswerCount> out;
  for (const auto& [key, count] : a.counts) out.push_back({key.first, key.second, count});
  return out;
}

Response Octet(std::string body, const std::string& filename) {
  Response r;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  r.body = std::move(body);
  return r;
}

Response Interrupted() {
  // A client that closes its side of the connection (even a half-close, which HTTP allows) is
  // taken to have left: its window is freed rather than held for nobody.
  return ErrorResponse(503,
                       "profiling interrupted: the server is shutting down, or the client closed "
                       "its side of the connection (send the request without shutting down "
                       "writing)");
}

Response MovedTo(const std::string& relative) {
  Response r;
  r.status = 301;
  r.headers.emplace_back("Location", relative);
  r.body = "moved to " + relative + "\n";
  return r;
}

bool ParseNonNegative(const std::string& text, int64_t max, int64_t* out) {
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *out = std::stoll(text);
  return *out <= max;
}

bool ParseSeconds(const std::string& text, bool fraction, int64_t max_seconds, int64_t* nanos) {
  const size_t dot = fraction ? text.find('.') : std::string::npos;
  const std::string whole = text.substr(0, dot);
  const std::string decimals = dot == std::string::npos ? "" : text.substr(dot + 1);
  int64_t s = 0, d = 0;
  if (!ParseNonNegative(whole, max_seconds, &s)) return false;
  if (dot != std::string::npos &&
      (decimals.empty() || decimals.size() > 9 || !ParseNonNegative(decimals, 999999999, &d))) {
    return false;
  }
  for (size_t i = decimals.size(); i < 9; ++i) d *= 10;
  *nanos = s * 1000000000 + d;
  return *nanos >= (fraction ? 1000000 : 1000000000) && *nanos <= max_seconds * 1000000000;
}

bool SecondsParam(const Call& c, int64_t* seconds, Response* error) {
  auto it = c.url.query.find("seconds");
  if (it == c.url.query.end()) return true;
  int64_t nanos = 0;
  if (!ParseSeconds(it->second, false, c.env.max_profile_seconds, &nanos)) {
    *error = ErrorResponse(400,
                           "invalid value for \"seconds\" - must be a positive integer of "
                           "at most " +
                               std::to_string(c.env.max_profile_seconds));
    return false;
  }
  *seconds = nanos / 1000000000;
  return true;
}

bool NamedProfileParams(const Call& c, int* debug, int64_t* seconds, Response* error) {
  *debug = 0;
  *seconds = 0;
  auto d = c.url.query.find("debug");
  if (d != c.url.query.end()) {
    if (d->second != "0" && d->second != "1" && d->second != "2") {
      *error = ErrorResponse(400, "invalid value for \"debug\" - must be 0, 1 or 2");
      return false;
    }
    *debug = d->second[0] - '0';
  }
  if (!SecondsParam(c, seconds, error)) return false;
  if (*seconds != 0 && *debug != 0) {
    *error = ErrorResponse(400, "seconds and debug params are incompatible");
    return false;
  }
  return true;
}

bool WantsLegacy(const Call& c, bool* legacy, Response* error) {
  *legacy = c.legacy;
  auto format = c.url.query.find("format");
  if (format != c.url.query.end()) {
    if (format->second != "proto" && format->second != "legacy") {
      *error = ErrorResponse(400, "invalid value for \"format\" - must be proto or legacy");
      return false;
    }
    *legacy = format->second == "legacy";
  }
  return true;
}

}  // namespace server
}  // namespace hookprof
