// The public header: Use/Stop/Port, the environment, and HandleHttp for mounting.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "hookprof.h"

namespace {

TEST(PublicApiTest, ServesOnAnEphemeralPortUntilStopped) {
  hookprof::Options options;
  options.address = "127.0.0.1:0";
  options.context_path = "api/";
  std::string error;
  ASSERT_TRUE(hookprof::Use(options, &error)) << error;
  EXPECT_GT(hookprof::Port(), 0);
  const hookprof::HttpResponse r = hookprof::HandleHttp("GET", "/api/debug/pprof/cmdline", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("public_api_test"), std::string::npos);
  bool nosniff = false;
  for (const auto& h : r.headers) nosniff |= h.first == "X-Content-Type-Options";
  EXPECT_TRUE(nosniff);
  EXPECT_EQ(hookprof::HandleHttp("GET", "/debug/pprof/cmdline", "").status, 404);
  hookprof::Stop();
  EXPECT_EQ(hookprof::Port(), 0);
}

TEST(PublicApiTest, MountedHandlerRefusesStateChangesFromAnotherSitesPages) {
  hookprof::Options options;
  options.serve = false;
  std::string error;
  ASSERT_TRUE(hookprof::Use(options, &error)) << error;
  hookprof::HttpRequest post{
      "POST", "/debug/hookprof/mode?set=off", "", "", "app.example:8080", "https://evil.example"};
  const hookprof::HttpResponse refused = hookprof::HandleHttp(post);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("cross-origin"), std::string::npos) << refused.body;
  EXPECT_EQ(hookprof::HandleHttp({"GET", "/debug/hookprof/mode", "", "", "", ""}).body.find("off"),
            std::string::npos)
      << "the refused request switched the mode";
  post.origin = "http://app.example:8080";  // The program's own page.
  EXPECT_EQ(hookprof::HandleHttp(post).status, 200);
  post.target = "/debug/hookprof/mode?set=profile";
  post.origin.clear();  // Not a browser.
  EXPECT_EQ(hookprof::HandleHttp(post).status, 200);
  // The program's server decides which hosts may ask: a public name is not a loopback refusal.
  const hookprof::HttpResponse index =
      hookprof::HandleHttp({"GET", "/debug/pprof/", "", "", "app.example:8080", ""});
  EXPECT_EQ(index.status, 200) << index.body;
  hookprof::Stop();
}

TEST(PublicApiTest, RejectsAnInvalidContextPathWithAReason) {
  hookprof::Options options;
  options.address = "127.0.0.1:0";
  options.context_path = "/a/../b";
  std::string error;
  EXPECT_FALSE(hookprof::Use(options, &error));
  EXPECT_NE(error.find("invalid context path"), std::string::npos) << error;
  EXPECT_EQ(hookprof::Port(), 0);
}

TEST(PublicApiTest, ReportsAnAddressItCannotBind) {
  hookprof::Options options;
  options.address = "localhost-ish:80";
  std::string error;
  EXPECT_FALSE(hookprof::Use(options, &error));
  EXPECT_NE(error.find("not an IP address"), std::string::npos) << error;
  hookprof::Stop();
}

TEST(PublicApiTest, ReadsTheEnvironmentAndReportsMalformedValues) {
  setenv("HOOKPROF_ADDR", "127.0.0.1:0", 1);
  setenv("HOOKPROF_CONTEXT_PATH", "/envctx", 1);
  setenv("HOOKPROF_CPU_HZ", "fast", 1);
  hookprof::Options options = hookprof::OptionsFromEnvironment();
  EXPECT_EQ(options.address, "127.0.0.1:0");
  EXPECT_EQ(options.context_path, "/envctx");
  EXPECT_EQ(options.cpu_hz, 100);  // The default stays; Use says what was wrong.
  std::string error;
  EXPECT_FALSE(hookprof::Use(options, &error));
  EXPECT_NE(error.find("HOOKPROF_CPU_HZ=\"fast\""), std::string::npos) << error;
  hookprof::Stop();
  unsetenv("HOOKPROF_CPU_HZ");
  unsetenv("HOOKPROF_ADDR");
  unsetenv("HOOKPROF_CONTEXT_PATH");
}

}  // namespace
