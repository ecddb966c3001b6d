// The charts page's data path: bounded viewer queues, the WebSocket over a real socket with
// several viewers (one stalled, one gone), and the page's endpoints.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "runtime/charts/metrics.h"
#include "runtime/core/json.h"
#include "server/http/http_server.h"
#include "server/router.h"

namespace hookprof {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

TEST(ChartsTest, SlowViewerLosesOldestFramesCountedNeverBlocksThePublisher) {
  auto viewer = runtime::SubscribeMetrics();
  std::string frame;
  ASSERT_TRUE(viewer->Pop(&frame, 0));
  EXPECT_NE(frame.find("\"kind\":\"history\""), std::string::npos) << frame;
  for (int i = 0; i < 20; ++i) runtime::PublishFrame("frame " + std::to_string(i));
  EXPECT_EQ(viewer->dropped(), 20u - runtime::kViewerQueueFrames);
  std::string last;
  int n = 0;
  while (viewer->Pop(&frame, 0)) {
    last = frame;
    ++n;
  }
  EXPECT_EQ(n, static_cast<int>(runtime::kViewerQueueFrames));
  EXPECT_EQ(last, "frame 19");
}

TEST(ChartsTest, JsonEscapeKeepsStringsValid) {
  EXPECT_EQ(runtime::JsonEscape("a\"b\\c\n\x01"), "a\\\"b\\\\c\\u000a\\u0001");
}

class ChartsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime::StartMetrics();
    server::ServerOptions options;
    options.address = "127.0.0.1:0";
    options.idle_timeout_seconds = 5;
    server::Env env;
    env.context_path = "/app";
    std::string error;
    server_ = server::HttpServer::Start(options, server::MakeApplication(env), &error);
    ASSERT_NE(server_, nullptr) << error;
  }

  // A WebSocket client whose reads give up after 5 s rather than hang the test.
  std::unique_ptr<websocket::stream<tcp::socket>> Connect(const std::string& path) {
    tcp::socket socket(ioc_);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    timeval tv = {5, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(std::move(socket));
    ws->handshake("127.0.0.1", path);
    return ws;
  }

  static std::string Read(websocket::stream<tcp::socket>* ws) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws->read(buffer, ec);
    return ec ? "error: " + ec.message() : beast::buffers_to_string(buffer.data());
  }

  http::response<http::string_body> Get(const std::string& target) {
    tcp::socket socket(ioc_);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    http::request<http::string_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res;
  }

  asio::io_context ioc_;
  std::unique_ptr<server::HttpServer> server_;
};

TEST_F(ChartsServerTest, ViewersGetHistoryThenOnePointASecondWhileAnotherStallsOrLeaves) {
  auto stalled = Connect("/app/debug/charts/ws");  // Never reads.
  {
    auto gone = Connect("/app/debug/charts/ws");  // Leaves at once.
  }
  auto viewer = Connect("/app/debug/charts/ws");
  const std::string history = Read(viewer.get());
  EXPECT_NE(history.find("\"kind\":\"history\""), std::string::npos) << history;
  EXPECT_NE(history.find("\"cpu_user\":["), std::string::npos) << history;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    const std::string point = Read(viewer.get());
    ASSERT_NE(point.find("\"kind\":\"point\""), std::string::npos) << point;
    EXPECT_NE(point.find("\"top\":["), std::string::npos) << point;
    EXPECT_NE(point.find("\"sampler_cpu_percent\":"), std::string::npos) << point;
  }
  // One point a second: three take about three seconds, not more because of the stalled one.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
  // Stopping does not wait on viewers that never read (30 s: never, told apart from soon).
  const auto stop = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stop, std::chrono::seconds(30));
}

TEST_F(ChartsServerTest, ViewersThatNeverReadAreCutAndTheirSlotsFreedWhileReadersStay) {
  // Pings every 200 ms, cut after 1 s without a pong: a reader answers each ping when it reads
  // (Beast does), a viewer that never reads never does.
  server_->Stop();
  server::ServerOptions options;
  options.address = "127.0.0.1:0";
  options.viewer_ping_millis = 200;
  options.viewer_silence_millis = 1000;
  server::Env env;
  env.context_path = "/app";
  std::string error;
  server_ = server::HttpServer::Start(options, server::MakeApplication(env), &error);
  ASSERT_NE(server_, nullptr) << error;
  auto reader = Connect("/app/debug/charts/ws");
  std::vector<std::unique_ptr<websocket::stream<tcp::socket>>> stalled;
  for (int i = 0; i < 15; ++i) stalled.push_back(Connect("/app/debug/charts/ws"));
  // Every slot is taken now: one more viewer is refused.
  EXPECT_THROW(Connect("/app/debug/charts/ws"), beast::system_error);
  // The reader reads on for 3 s (well past the silence limit): its pongs keep it.
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) {
    const std::string frame = Read(reader.get());
    ASSERT_EQ(frame.find("error"), std::string::npos) << "the reading viewer was cut: " << frame;
  }
  // The stalled ones were cut: their slots take new viewers again.
  auto late = Connect("/app/debug/charts/ws");
  EXPECT_NE(Read(late.get()).find("\"kind\":\"history\""), std::string::npos);
}

TEST_F(ChartsServerTest, ServesThePageItsLibraryAndTheHistory) {
  auto res = Get("/app/debug/charts");
  EXPECT_EQ(res.result_int(), 301);
  EXPECT_EQ(res[http::field::location], "charts/");
  res = Get("/app/debug/charts/");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_NE(res.body().find("src=\"uplot.js\""), std::string::npos);
  res = Get("/app/debug/charts/uplot.js");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find("uPlot"), std::string::npos);
  EXPECT_GT(res.body().size(), 20000u);
  res = Get("/app/debug/charts/uplot.css");
  EXPECT_EQ(res.result_int(), 200);
  res = Get("/app/debug/charts/data");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body().front(), '{');
  EXPECT_NE(res.body().find("\"calls_per_s\":["), std::string::npos);
  EXPECT_EQ(Get("/app/debug/charts/nothing").result_int(), 404);
  EXPECT_EQ(Get("/app/debug/charts/data?x=1").result_int(), 400);
  EXPECT_EQ(Get("/app/debug/charts/ws").result_int(), 400);  // Not an upgrade.
  EXPECT_EQ(Get("/debug/charts/").result_int(), 404);        // Outside the context path.
}

}  // namespace
}  // namespace hookprof
