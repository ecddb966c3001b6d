// The endpoints as plain functions: routing under a context path, Go's headers and errors.
#include <gtest/gtest.h>
#include <stdio.h>
#include <time.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "instrument/coverage/coverage.h"
#include "server/router.h"
#include "tests/test_util.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using server::Env;
using server::Request;
using server::Response;

std::string Header(const Response& r, const std::string& name) {
  for (const auto& h : r.headers) {
    if (h.first == name) return h.second;
  }
  return "";
}

class HandlersTest : public ::testing::Test {
 protected:
  HandlersTest() {
    env_.context_path = "/ctx";
    env_.max_profile_seconds = 60;
    env_.wait = [this](int64_t nanos) {
      waited_ += nanos;
      return !shutting_down_;
    };
  }
  Response Get(const std::string& target, const std::string& ua = "Go-http-client/1.1") {
    Request r;
    r.method = "GET";
    r.target = target;
    r.user_agent = ua;
    instrument::ScopedGuard guard;  // As every real caller: see HandleRequest's contract.
    return server::HandleRequest(r, env_);
  }
  Response Send(const std::string& method, const std::string& target, const std::string& body) {
    Request r{method, target, body, ""};
    instrument::ScopedGuard guard;
    return server::HandleRequest(r, env_);
  }
  void ExpectError(const Response& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
    EXPECT_EQ(Header(r, "X-Go-Pprof"), "1");
    EXPECT_EQ(Header(r, "Content-Disposition"), "");
    ASSERT_FALSE(r.body.empty());
    EXPECT_EQ(r.body.find('\n'), r.body.size() - 1) << "one line: " << r.body;
  }

  Env env_;
  int64_t waited_ = 0;
  bool shutting_down_ = false;
};

TEST_F(HandlersTest, ServesProfileAfterWaitingTheWindow) {
  const Response r = Get("/ctx/debug/pprof/profile?seconds=7");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(Header(r, "Content-Disposition"), "attachment; filename=\"profile\"");
  EXPECT_EQ(Header(r, "X-Hookprof-Format"), "proto");
  EXPECT_EQ(waited_, 7000000000);
  ASSERT_GE(r.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(r.body[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(r.body[1]), 0x8b);
}

TEST_F(HandlersTest, DefaultsToThirtySecondsAsGoDoes) {
  Get("/ctx/debug/pprof/profile");
  EXPECT_EQ(waited_, 30000000000);
}

TEST_F(HandlersTest, RejectsBadSeconds) {
  for (const char* bad :
       {"0", "-1", "abc", "1.5", "", "61", "99999999999999999999", "1e3", "%20"}) {
    SCOPED_TRACE(bad);
    ExpectError(Get(std::string("/ctx/debug/pprof/profile?seconds=") + bad), 400);
  }
  EXPECT_EQ(waited_, 0);
}

TEST_F(HandlersTest, AbandonsTheProfileWhenTheServerStops) {
  shutting_down_ = true;
  ExpectError(Get("/ctx/debug/pprof/profile?seconds=1"), 503);
}

TEST_F(HandlersTest, ServesProtoToEveryClientAndLegacyUnderItsOwnPrefix) {
  Response r = Get("/ctx/debug/pprof/profile?seconds=1", "curl/7.88.1");
  EXPECT_EQ(Header(r, "X-Hookprof-Format"), "proto");  // As Go's handlers: curl too.
  r = Get("/ctx/debug/legacy/pprof/profile?seconds=1", "curl/7.88.1");
  EXPECT_EQ(Header(r, "X-Hookprof-Format"), "legacy");
  ASSERT_GE(r.body.size(), 16u);
  EXPECT_EQ(r.body.substr(0, 8), std::string(8, '\0'));  // Legacy header word 0.
  EXPECT_EQ(Header(Get("/ctx/debug/legacy/pprof/heap"), "X-Hookprof-Format"), "legacy");
  EXPECT_EQ(Get("/ctx/debug/legacy/pprof/symbol").body, "num_symbols: 1\n");
  r = Get("/ctx/debug/pprof/profile?seconds=1&format=legacy");
  EXPECT_EQ(Header(r, "X-Hookprof-Format"), "legacy");
  r = Get("/ctx/debug/legacy/pprof/profile?seconds=1&format=proto");
  EXPECT_EQ(Header(r, "X-Hookprof-Format"), "proto");
  ExpectError(Get("/ctx/debug/pprof/profile?seconds=1&format=json"), 400);
}

TEST_F(HandlersTest, AnswersNotFoundOutsideTheContextPath) {
  ExpectError(Get("/debug/pprof/"), 404);
  ExpectError(Get("/ctxother/debug/pprof/"), 404);
  ExpectError(Get("/"), 404);
  ExpectError(Get("/ctx/debug/other"), 404);
  const Response r = Get("/ctx/debug/pprof/nosuchprofile");
  ExpectError(r, 404);
  EXPECT_EQ(r.body, "Unknown profile: nosuchprofile\n");
}

TEST_F(HandlersTest, RejectsDotSegmentsAndEncodedTraversal) {
  ExpectError(Get("/ctx/../debug/pprof/"), 400);
  ExpectError(Get("/ctx/%2e%2e/debug/pprof/"), 400);
  ExpectError(Get("/ctx//debug/pprof/"), 400);
  ExpectError(Get("/ctx/debug/pprof/%zz"), 400);
  ExpectError(Get("/ctx/debug/pprof/%00"), 400);
  ExpectError(Get("ctx/debug/pprof/"), 400);
  // An escaped '/' is no separator (it reached cmdline as one), nor are control characters.
  ExpectError(Get("/ctx%2Fdebug/pprof/cmdline"), 400);
  ExpectError(Get("/ctx/debug%2fpprof/cmdline"), 400);
  ExpectError(Get("/ctx/debug/pprof/cmd%09line"), 400);
}

TEST_F(HandlersTest, RejectsAQueryKeyGivenTwice) {
  const Response r = Get("/ctx/debug/pprof/profile?seconds=1&seconds=2");
  ExpectError(r, 400);
  EXPECT_NE(r.body.find("\"seconds\" given more than once"), std::string::npos) << r.body;
  EXPECT_EQ(waited_, 0);
}

TEST_F(HandlersTest, CoverageResetWithoutCoverageIsNotFoundAsGetIs) {
  ASSERT_FALSE(instrument::CoverageActive());
  ExpectError(Get("/ctx/debug/coverage"), 404);
  ExpectError(Send("POST", "/ctx/debug/coverage?reset=1", ""), 404);
}

TEST_F(HandlersTest, RejectsWrongMethods) {
  const Response r = Send("POST", "/ctx/debug/pprof/profile", "");
  ExpectError(r, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET, HEAD");
  ExpectError(Send("DELETE", "/ctx/debug/pprof/", ""), 405);
  ExpectError(Send("PUT", "/ctx/debug/pprof/symbol", ""), 405);
}

TEST_F(HandlersTest, ServesTheIndexWithRelativeLinks) {
  const Response r = Get("/ctx/debug/pprof/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("href=\"profile?seconds=30\""), std::string::npos);
  EXPECT_NE(r.body.find("href=\"cmdline\""), std::string::npos);
  EXPECT_EQ(r.body.find("href=\"/"), std::string::npos) << "links must be relative";
  const Response redirect = Get("/ctx/debug/pprof");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(Header(redirect, "Location"), "pprof/");
}

TEST_F(HandlersTest, ServesCmdlineNulSeparated) {
  const Response r = Get("/ctx/debug/pprof/cmdline");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("handlers_test"), std::string::npos);
  EXPECT_NE(r.body.back(), '\0');
}

TEST_F(HandlersTest, AnswersTheSymbolProtocol) {
  EXPECT_EQ(Get("/ctx/debug/pprof/symbol").body, "num_symbols: 1\n");
  char addr[32];
  snprintf(addr, sizeof(addr), "%#lx",
           static_cast<unsigned long>(testing::Addr(&workload::Middle)));
  const std::string want = std::string(addr) + " workload::Middle(int)\n";
  EXPECT_EQ(Send("POST", "/ctx/debug/pprof/symbol", std::string(addr) + "+0x1").body, want);
  EXPECT_EQ(Get(std::string("/ctx/debug/pprof/symbol?") + addr).body, want);
  // go tool pprof posts to /symbolz at the root when the profile URL has a context path.
  EXPECT_EQ(Send("POST", "/symbolz", addr).body, want);
  ExpectError(Send("POST", "/ctx/debug/pprof/symbol", "0xfoo"), 400);
}

TEST_F(HandlersTest, ServesTracesAndRestoresTheMode) {
  Response r = Get("/ctx/debug/pprof/trace?seconds=0.25");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(Header(r, "Content-Disposition"), "attachment; filename=\"trace.perfetto-trace\"");
  EXPECT_EQ(Header(r, "X-Hookprof-Lost-Events"), "0");
  // The window is waited in 10 ms steps, draining the rings between them; the real clock ends
  // it too (under a test build that instruments the test itself, draining can take most of it).
  EXPECT_GT(waited_, 0);
  EXPECT_LE(waited_, 250000000);
  EXPECT_EQ(instrument::GetMode(), instrument::kModeProfile);
  r = Get("/ctx/debug/pprof/trace?format=json&min_ns=10&depth=3&include=Leaf&exclude=x");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(Header(r, "Content-Disposition"), "attachment; filename=\"trace.json\"");
}

TEST_F(HandlersTest, RejectsBadTraceParameters) {
  for (const char* bad :
       {"seconds=0", "seconds=-1", "seconds=abc", "seconds=61", "seconds=", "format=xml",
        "min_ns=-5", "min_ns=1.5", "depth=99999", "include=([", "exclude=*", "color=red",
        "max_slices=0",
        // Hostile patterns: a back-reference (RE2 has none), a count
        // past RE2's limit of 1000, an escape of nothing, and (below) a
        // pattern too long.
        "include=(a)%5C1", "include=a%7B1001%7D", "include=%5C8888888888888888888"}) {
    SCOPED_TRACE(bad);
    ExpectError(Get(std::string("/ctx/debug/pprof/trace?") + bad), 400);
  }
  ExpectError(Get("/ctx/debug/pprof/trace?include=" + std::string(300, 'a')), 400);
  EXPECT_EQ(waited_, 0);
}

TEST_F(HandlersTest, MatchesCatastrophicPatternsInLinearTime) {
  // Exponential for a backtracking engine on every name that almost matches.
  workload::Outer(2, 3);
  // The CPU the process spent (the handlers run on this thread), whatever else the machine runs.
  const auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  };
  const int64_t cpu_before = cpu_now();
  for (const char* pattern : {"(.%7B1,99%7D)%7B1,99%7DX", "(a*)*b", "(x%2Bx%2B)%2By"}) {
    const Response r = Get(std::string("/ctx/debug/pprof/trace?seconds=0.01&include=") + pattern +
                           "&exclude=" + pattern);
    EXPECT_TRUE(r.status == 200 || r.status == 400) << r.body;
  }
  EXPECT_LT(cpu_now() - cpu_before, 1'000'000'000);
}

TEST_F(HandlersTest, SwitchesTheRecordingModeOnPost) {
  // The first line; a second says how many hook calls `off` took out of the code, when this
  // test's own code has them (--config=instrumented*).
  auto mode_line = [](const Response& r) { return r.body.substr(0, r.body.find('\n') + 1); };
  EXPECT_EQ(mode_line(Get("/ctx/debug/hookprof/mode")), "mode: profile\n");
  EXPECT_EQ(mode_line(Send("POST", "/ctx/debug/hookprof/mode?set=off", "")), "mode: off\n");
  EXPECT_EQ(instrument::GetMode(), instrument::kModeOff);
  EXPECT_EQ(mode_line(Send("POST", "/ctx/debug/hookprof/mode?set=trace", "")), "mode: trace\n");
  ExpectError(Send("POST", "/ctx/debug/hookprof/mode?set=fast", ""), 400);
  ExpectError(Send("POST", "/ctx/debug/hookprof/mode", ""), 400);
  ExpectError(Get("/ctx/debug/hookprof/mode?set=off"), 405);
  EXPECT_EQ(Send("POST", "/ctx/debug/hookprof/mode?set=profile", "").body, "mode: profile\n");
}

TEST_F(HandlersTest, RequiresTheBearerTokenWhenOneIsSet) {
  env_.token = "s3cret";
  Request r;
  r.method = "GET";
  r.target = "/ctx/debug/pprof/cmdline";
  Response resp = server::HandleRequest(r, env_);
  ExpectError(resp, 401);
  EXPECT_EQ(Header(resp, "WWW-Authenticate"), "Bearer realm=\"hookprof\"");
  r.authorization = "Bearer s3cre";
  ExpectError(server::HandleRequest(r, env_), 401);
  r.authorization = "Bearer s3cret!";
  ExpectError(server::HandleRequest(r, env_), 401);
  r.authorization = "Basic czNjcmV0";
  ExpectError(server::HandleRequest(r, env_), 401);
  r.authorization = "Bearer s3cret";
  EXPECT_EQ(server::HandleRequest(r, env_).status, 200);
  r.target = "/symbolz";  // Everything, the root symbol endpoint too.
  r.authorization = "";
  ExpectError(server::HandleRequest(r, env_), 401);
}

TEST_F(HandlersTest, ErrorReasonsStayOneLineWhateverTheRequestQuotes) {
  // Decoded: a newline in the query key the 400 names (in a path it is refused as such).
  const Response r = Get("/ctx/debug/pprof/profile?%0a%1e=1");
  ExpectError(r, 400);
  EXPECT_NE(r.body.find("\\x0a\\x1e"), std::string::npos) << r.body;
}

TEST_F(HandlersTest, RejectsUnknownQueryKeysNamingTheOnesTaken) {
  for (const char* target :
       {"/ctx/debug/pprof/profile?seconds=1&sec=2", "/ctx/debug/pprof/heap?debug=1&verbose=1",
        "/ctx/debug/pprof/mutex?rate=5", "/ctx/debug/pprof/goroutine?gc=1",
        "/ctx/debug/pprof/block?format=proto&x"}) {
    SCOPED_TRACE(target);
    const Response r = Get(target);
    ExpectError(r, 400);
    EXPECT_NE(r.body.find("unknown query parameter"), std::string::npos) << r.body;
  }
  EXPECT_EQ(waited_, 0);
  EXPECT_EQ(Get("/ctx/debug/pprof/heap?gc=1").status, 200);  // What Go's clients send.
}

TEST_F(HandlersTest, LimitsProfileWindowsOpenAtOnce) {
  env_.max_profile_windows = 2;
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
  bool release = false;
  env_.wait = [&](int64_t) {
    std::unique_lock<std::mutex> lock(mu);
    ++waiting;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return true;
  };
  Response first, second;
  std::thread a([&] { first = Get("/ctx/debug/pprof/profile?seconds=1"); });
  std::thread b([&] { second = Get("/ctx/debug/pprof/heap?seconds=1"); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return waiting == 2; });
  }
  const Response third = Get("/ctx/debug/pprof/block?seconds=1");
  ExpectError(third, 503);
  EXPECT_EQ(Get("/ctx/debug/pprof/heap").status, 200);  // Not a window: still served.
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  a.join();
  b.join();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(Get("/ctx/debug/pprof/block?seconds=1").status, 200);  // Slots are given back.
}

TEST_F(HandlersTest, ComparesTheAuthSchemeCaseInsensitively) {
  env_.token = "s3cret";
  for (const char* header : {"Bearer s3cret", "bearer s3cret", "BEARER s3cret"}) {
    Request r{"GET", "/ctx/debug/pprof/cmdline", "", "", header};
    EXPECT_EQ(server::HandleRequest(r, env_).status, 200) << header;
  }
  Request r{"GET", "/ctx/debug/pprof/cmdline", "", "", "Bearers3cret"};
  ExpectError(server::HandleRequest(r, env_), 401);
}

TEST_F(HandlersTest, AnswersOnlyLoopbackHostNamesWhenBoundToLoopback) {
  env_.loopback_only = true;
  env_.allowed_hosts = {"profiler.internal"};
  Request r{"GET", "/ctx/debug/pprof/cmdline", "", "", ""};
  for (const char* host : {"127.0.0.1:8900", "localhost", "LOCALHOST:1", "[::1]:8900", "127.1.2.3",
                           "profiler.internal:80", ""}) {
    r.host = host;
    EXPECT_EQ(server::HandleRequest(r, env_).status, 200) << host;
  }
  for (const char* host :
       {"evil.example", "evil.example:8900", "127.0.0.1.evil.example", "128.0.0.1",
        "localhost.evil.example",
        // Overflowing, padded, short or long numbers that loose parsers read
        // as 127.x.y.z.
        "4294967423.0.0.1", "127.0.0.256", "0127.0.0.1", "127.1", "127.0.0.1.", "127.0.0.1.2"}) {
    r.host = host;
    ExpectError(server::HandleRequest(r, env_), 421);
  }
}

TEST_F(HandlersTest, RefusesStateChangesFromAnotherOrigin) {
  Request r{"POST", "/ctx/debug/hookprof/mode?set=off", "", "", ""};
  r.host = "127.0.0.1:8900";
  r.origin = "http://evil.example";
  ExpectError(server::HandleRequest(r, env_), 403);
  r.target = "/ctx/debug/coverage?reset=1";
  ExpectError(server::HandleRequest(r, env_), 403);
  EXPECT_EQ(instrument::GetMode(), instrument::kModeProfile);
  r.method = "GET";  // Reading is not a state change (and the browser cannot read the answer).
  r.target = "/ctx/debug/hookprof/mode";
  EXPECT_EQ(server::HandleRequest(r, env_).status, 200);
  r.method = "POST";
  r.target = "/ctx/debug/hookprof/mode?set=profile";
  r.origin = "http://127.0.0.1:8900";  // The charts page itself.
  EXPECT_EQ(server::HandleRequest(r, env_).status, 200);
  r.method = "GET";
  r.target = "/ctx/debug/charts/ws";
  r.upgrade = true;
  r.origin = "http://evil.example";
  ExpectError(server::HandleRequest(r, env_), 403);
}

TEST_F(HandlersTest, TakesSecondsAsDecimalNumbersOnly) {
  for (const char* bad : {"0x10", "1e3", "%201", "1%20", "1e-320", "+1", "-1", ".5", "1.", "1.5"}) {
    SCOPED_TRACE(bad);
    ExpectError(Get(std::string("/ctx/debug/pprof/profile?seconds=") + bad), 400);
  }
  for (const char* bad :
       {"0x10", "1e3", "%201", "1e-320", "0.0001", "0.0009999", ".5", "1.", "1.0000000001", "61"}) {
    SCOPED_TRACE(bad);
    ExpectError(Get(std::string("/ctx/debug/pprof/trace?seconds=") + bad), 400);
  }
  EXPECT_EQ(waited_, 0);
  EXPECT_EQ(Get("/ctx/debug/pprof/trace?seconds=0.001").status, 200);
  EXPECT_EQ(Get("/ctx/debug/pprof/profile?seconds=2").status, 200);
}

TEST_F(HandlersTest, AnswersHeadOnAWindowWithoutOpeningIt) {
  for (const char* target : {"/ctx/debug/pprof/trace?seconds=60", "/ctx/debug/pprof/profile",
                             "/ctx/debug/pprof/heap?seconds=5"}) {
    const Response r = Send("HEAD", target, "");
    EXPECT_EQ(r.status, 200) << target;
    EXPECT_TRUE(r.body.empty());
  }
  EXPECT_EQ(waited_, 0);
  EXPECT_EQ(instrument::GetMode(), instrument::kModeProfile);
}

TEST_F(HandlersTest, ListsFunctionsWhoseHooksCostMoreThanTheyTell) {
  // During the window: 20,000 calls of a tiny function under one call of its caller (on a
  // thread of its own: the request's thread is guarded, as the server's are).
  env_.wait = [](int64_t) {
    std::thread([] { workload::Middle(20000); }).join();
    return true;
  };
  Response r = Get("/ctx/debug/hookprof/exclusions?seconds=1&min_calls=10000&max_ns=1000000");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("       20000 "), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("workload::Leaf()"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("workload::Middle(int)"), std::string::npos) << "one call: " << r.body;
  r = Get("/ctx/debug/hookprof/exclusions?seconds=1&max_ns=1000000&format=gcc");
  EXPECT_EQ(r.body, "-finstrument-functions-exclude-function-list=workload::Leaf\n");
  r = Get("/ctx/debug/hookprof/exclusions?seconds=1&max_ns=1000000&format=xray");
  EXPECT_EQ(r.body, "[never]\nfun:_ZN8workload4LeafEv\n");
  ExpectError(Get("/ctx/debug/hookprof/exclusions?format=json"), 400);
  ExpectError(Get("/ctx/debug/hookprof/exclusions?min_calls=-1"), 400);
  ExpectError(Get("/ctx/debug/hookprof/exclusions?calls=1"), 400);
}

TEST(ContextPathTest, NormalizesAndRejects) {
  std::string out;
  EXPECT_TRUE(server::NormalizeContextPath("", &out));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(server::NormalizeContextPath("/", &out));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(server::NormalizeContextPath("demo", &out));
  EXPECT_EQ(out, "/demo");
  EXPECT_TRUE(server::NormalizeContextPath("/a/b/", &out));
  EXPECT_EQ(out, "/a/b");
  EXPECT_FALSE(server::NormalizeContextPath("/a/../b", &out));
  EXPECT_FALSE(server::NormalizeContextPath("/a//b", &out));
  EXPECT_FALSE(server::NormalizeContextPath("/a?b", &out));
  EXPECT_FALSE(server::NormalizeContextPath("/a b", &out));
  EXPECT_FALSE(server::NormalizeContextPath("/a\tb", &out));  // Accepted, then unreachable.
}

}  // namespace
}  // namespace hookprof
