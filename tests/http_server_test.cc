// The Beast server over real loopback sockets: keep-alive, limits, malformed input, HTTP/1.0,
// concurrent profiles, and stopping while a profile window is open.
#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/router.h"
#include "tests/raw_client.h"

namespace hookprof {
namespace {

using server::HttpServer;
using testing::RawClient;

int CountOf(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart(256); }
  // A fresh server under /app with at most `max_connections` open.
  void Restart(int max_connections) {
    server_.reset();
    server::ServerOptions options;
    options.address = "127.0.0.1:0";
    options.idle_timeout_seconds = 2;
    options.max_connections = max_connections;
    env_ = server::Env();
    env_.context_path = "/app";
    env_.max_profile_seconds = 10;
    std::string error;
    server_ = HttpServer::Start(options, server::MakeApplication(env_), &error);
    ASSERT_NE(server_, nullptr) << error;
    port_ = server_->port();
  }
  // Polls `done` every millisecond; false after 10 s (a guard, not a timing).
  static bool Until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  std::string Get(const std::string& target) {
    RawClient c(port_);
    c.Send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return c.Read();
  }
  server::Env env_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

TEST_F(HttpServerTest, PassesTheAuthorizationHeaderToTheHandlers) {
  server_->Stop();
  server::ServerOptions options;
  options.address = "127.0.0.1:0";
  server::Env env;
  env.token = "t0k";
  std::string error;
  server_ = HttpServer::Start(options, server::MakeApplication(env), &error);
  ASSERT_NE(server_, nullptr) << error;
  RawClient a(server_->port());
  a.Send("GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.Read().compare(0, 12, "HTTP/1.1 401"), 0);
  RawClient b(server_->port());
  b.Send(
      "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n"
      "Connection: close\r\n\r\n");
  EXPECT_EQ(b.Read().compare(0, 12, "HTTP/1.1 200"), 0);
}

TEST_F(HttpServerTest, ServesTheIndexUnderTheContextPath) {
  const std::string r = Get("/app/debug/pprof/");
  EXPECT_EQ(r.compare(0, 15, "HTTP/1.1 200 OK"), 0) << r;
  EXPECT_NE(r.find("X-Content-Type-Options: nosniff"), std::string::npos);
  EXPECT_NE(r.find("Content-Type: text/html"), std::string::npos);
  EXPECT_EQ(Get("/debug/pprof/").compare(0, 12, "HTTP/1.1 404"), 0);
}

TEST_F(HttpServerTest, KeepsConnectionsAliveAcrossPipelinedRequests) {
  RawClient c(port_);
  const std::string req = "GET /app/debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n";
  c.Send(req + req + req);
  const std::string r = c.Read(3);
  EXPECT_EQ(CountOf(r, "HTTP/1.1 200 OK"), 3) << r;
  c.Send(req);
  EXPECT_EQ(CountOf(c.Read(1), "HTTP/1.1 200 OK"), 1);
}

TEST_F(HttpServerTest, AnswersHttp10AndCloses) {
  RawClient c(port_);
  c.Send("GET /app/debug/pprof/cmdline HTTP/1.0\r\n\r\n");
  const std::string r = c.Read();
  EXPECT_EQ(r.compare(0, 15, "HTTP/1.0 200 OK"), 0) << r;
  EXPECT_TRUE(c.Closed());
}

TEST_F(HttpServerTest, AnswersHeadWithoutABody) {
  RawClient c(port_);
  c.Send("HEAD /app/debug/pprof/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string r = c.ReadUntilClose();
  EXPECT_EQ(r.compare(0, 15, "HTTP/1.1 200 OK"), 0) << r;
  EXPECT_EQ(r.size(), r.find("\r\n\r\n") + 4) << "no body after the headers";
}

TEST_F(HttpServerTest, RejectsOversizedHeadersWith431) {
  RawClient c(port_);
  c.Send("GET /app/debug/pprof/ HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') +
         "\r\n\r\n");
  EXPECT_EQ(c.Read().compare(0, 12, "HTTP/1.1 431"), 0);
  EXPECT_EQ(Get("/app/debug/pprof/").compare(0, 12, "HTTP/1.1 200"), 0) << "still serving";
}

TEST_F(HttpServerTest, RejectsBodiesOverOneMebibyteWith413) {
  RawClient c(port_);
  c.Send("POST /app/debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" +
         std::string(100000, '0'));
  EXPECT_EQ(c.Read().compare(0, 12, "HTTP/1.1 413"), 0);
}

TEST_F(HttpServerTest, RejectsBytesThatAreNotHttpAndKeepsServing) {
  RawClient c(port_);
  // A TLS ClientHello's first bytes (with NULs), then junk.
  static const char kNotHttp[] =
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n";
  c.Send(std::string(kNotHttp, sizeof(kNotHttp) - 1));
  EXPECT_EQ(c.Read().compare(0, 12, "HTTP/1.1 400"), 0);
  EXPECT_EQ(Get("/app/debug/pprof/").compare(0, 12, "HTTP/1.1 200"), 0);
}

TEST_F(HttpServerTest, SurvivesAClientThatLeavesMidProfile) {
  {
    RawClient c(port_);
    c.Send("GET /app/debug/pprof/profile?seconds=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  }  // Gone before the window closes: the answer is written to a closed socket.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(Get("/app/debug/pprof/").compare(0, 12, "HTTP/1.1 200"), 0);
  // And its connection slot was given back: a profile still works end to end.
  EXPECT_EQ(Get("/app/debug/pprof/profile?seconds=1").compare(0, 12, "HTTP/1.1 200"), 0);
}

TEST_F(HttpServerTest, ClosesIdleConnections) {
  RawClient c(port_);
  c.Send("GET /app/debug/pprof/ HTTP/1.1\r\nHo");  // ... and nothing more.
  const auto start = std::chrono::steady_clock::now();
  // Closed at the 2 s idle timeout; 30 s tells that from never on however busy a machine.
  EXPECT_TRUE(c.Closed(30000));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << "not idle yet";
}

TEST_F(HttpServerTest, AnswersOverlappingProfilesBoth) {
  std::string a, b;
  std::thread ta([&] { a = Get("/app/debug/pprof/profile?seconds=3"); });
  std::thread tb([&] { b = Get("/app/debug/pprof/profile?seconds=3"); });
  // A third client is not blocked by the two open windows: answered while both are open.
  ASSERT_TRUE(Until([this] { return env_.open_windows->load() == 2; }));
  EXPECT_EQ(Get("/app/debug/pprof/cmdline").compare(0, 12, "HTTP/1.1 200"), 0);
  EXPECT_EQ(env_.open_windows->load(), 2) << "the answer waited for a window to end";
  ta.join();
  tb.join();
  EXPECT_EQ(a.compare(0, 12, "HTTP/1.1 200"), 0) << a;
  EXPECT_EQ(b.compare(0, 12, "HTTP/1.1 200"), 0) << b;
  EXPECT_NE(a.find("Content-Type: application/octet-stream"), std::string::npos);
}

TEST_F(HttpServerTest, StopInterruptsAnOpenProfileWindow) {
  std::string r;
  std::thread t([&] { r = Get("/app/debug/pprof/profile?seconds=10"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  t.join();
  // Before the window's 10 s (a 503, below, says the window was cut, not finished).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // The client is told why, not just disconnected.
  EXPECT_EQ(r.compare(0, 12, "HTTP/1.1 503"), 0) << r;
  EXPECT_NE(r.find("shutting down"), std::string::npos) << r;
  RawClient after(port_);
  EXPECT_FALSE(after.connected());
}

TEST_F(HttpServerTest, ARequestSentAsTheServerStopsIsAnsweredNeverDropped) {
  // Whether the server read it before it stopped (then 200 or 503) or not (503): never a
  // bare close of a connection that carried a request.
  int answered = 0, told_why = 0;
  for (int i = 0; i < 20; ++i) {
    Restart(256);
    RawClient c(port_);
    ASSERT_TRUE(c.connected());
    // One answer first: the connection is accepted, kept alive, its next read pending.
    c.Send("GET /app/debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(c.Read(1, 30000).compare(0, 12, "HTTP/1.1 200"), 0);
    c.Send("GET /app/debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n");
    server_->Stop();
    const std::string r = c.Read(1, 5000);
    if (r.compare(0, 12, "HTTP/1.1 200") == 0) {
      ++answered;
    } else {
      ASSERT_EQ(r.compare(0, 12, "HTTP/1.1 503"), 0) << "round " << i << ": [" << r << "]";
      EXPECT_NE(r.find("shutting down"), std::string::npos) << r;
      ++told_why;
    }
  }
  printf("20 requests as the server stopped: %d answered, %d told it is shutting down\n", answered,
         told_why);
}

TEST(HttpServerStartTest, RefusesNonLoopbackAddressesUnlessAllowed) {
  std::string error;
  server::ServerOptions options;
  options.address = "0.0.0.0:0";
  EXPECT_EQ(HttpServer::Start(options, server::MakeApplication(server::Env()), &error), nullptr);
  EXPECT_NE(error.find("not a loopback address"), std::string::npos) << error;
  options.address = "[::1]:0";
  auto v6 = HttpServer::Start(options, server::MakeApplication(server::Env()), &error);
  // IPv6 loopback is loopback (where the machine has IPv6 at all).
  if (v6 == nullptr) {
    EXPECT_EQ(error.find("not a loopback address"), std::string::npos) << error;
  }
  options.address = "0.0.0.0:0";
  options.allow_remote = true;
  auto any = HttpServer::Start(options, server::MakeApplication(server::Env()), &error);
  EXPECT_NE(any, nullptr) << error;
}

TEST(HttpServerStartTest, ReportsUnusableAddresses) {
  std::string error;
  server::ServerOptions options;
  options.address = "not-an-ip:80";
  EXPECT_EQ(HttpServer::Start(options, server::MakeApplication(server::Env()), &error), nullptr);
  EXPECT_NE(error.find("not an IP address"), std::string::npos) << error;
  options.address = "127.0.0.1";
  EXPECT_EQ(HttpServer::Start(options, server::MakeApplication(server::Env()), &error), nullptr);
  EXPECT_NE(error.find("no port"), std::string::npos) << error;
  options.address = "127.0.0.1:99999";
  EXPECT_EQ(HttpServer::Start(options, server::MakeApplication(server::Env()), &error), nullptr);
  options.address = "127.0.0.1:0";
  auto first = HttpServer::Start(options, server::MakeApplication(server::Env()), &error);
  ASSERT_NE(first, nullptr);
  options.address = "127.0.0.1:" + std::to_string(first->port());
  EXPECT_EQ(HttpServer::Start(options, server::MakeApplication(server::Env()), &error), nullptr);
  EXPECT_NE(error.find("cannot listen"), std::string::npos) << error;
}

TEST_F(HttpServerTest, HoldsTwoHundredConcurrentConnections) {
  // 200 clients connect at once, each with a request in flight, and all are answered; then
  // the server still serves.
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(clients.back()->connected()) << "client " << i;
  }
  for (auto& c : clients) {
    c->Send("GET /app/debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  int ok = 0;
  for (auto& c : clients) ok += c->Read().compare(0, 12, "HTTP/1.1 200") == 0 ? 1 : 0;
  EXPECT_EQ(ok, kClients);
  clients.clear();
  EXPECT_EQ(Get("/app/debug/pprof/").compare(0, 12, "HTTP/1.1 200"), 0);
}

TEST_F(HttpServerTest, MakesRoomAtTheLimitByClosingTheLeastRecentlyUsedIdleConnection) {
  Restart(4);
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<RawClient>(port_));
    held.back()->Send("GET /app/debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(held.back()->Read().compare(0, 12, "HTTP/1.1 200"), 0);  // Kept alive, idle.
  }
  // Answers are sent before their workers put the connections back among the idle ones, in
  // any order: wait until all four are there.
  ASSERT_TRUE(Until([&] { return server_->connections().idle == 4; }));
  // A fifth client is served: the connection whose last request is the oldest made room.
  EXPECT_EQ(Get("/app/debug/pprof/cmdline").compare(0, 12, "HTTP/1.1 200"), 0);
  EXPECT_TRUE(held.front()->Closed(1000));
  EXPECT_EQ(server_->connections().evicted, 1);
  // The others are still open and served.
  for (size_t i = 1; i < held.size(); ++i) {
    held[i]->Send("GET /app/debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(held[i]->Read().compare(0, 12, "HTTP/1.1 200"), 0) << "client " << i;
  }
}

TEST_F(HttpServerTest, RefusesConnectionsWhenAllAreBusyWith503) {
  Restart(2);
  std::vector<std::unique_ptr<RawClient>> busy;
  for (int i = 0; i < 2; ++i) {
    busy.push_back(std::make_unique<RawClient>(port_));
    busy.back()->Send("GET /app/debug/pprof/profile?seconds=2 HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  ASSERT_TRUE(Until([&] { return server_->connections().busy == 2; }));  // Both windows open.
  RawClient extra(port_);  // Answered at once, before it sends anything.
  EXPECT_EQ(extra.Read().compare(0, 12, "HTTP/1.1 503"), 0);
  EXPECT_EQ(server_->connections().refused, 1);
  for (auto& c : busy) EXPECT_EQ(c->Read().compare(0, 12, "HTTP/1.1 200"), 0);
  EXPECT_EQ(Get("/app/debug/pprof/cmdline").compare(0, 12, "HTTP/1.1 200"), 0);
}

}  // namespace
}  // namespace hookprof
