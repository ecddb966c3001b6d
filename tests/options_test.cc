// The options table (hookprof_options.inc): the environment parser and the bounds Use applies
// (docs_test checks docs/options.md against it).
#include "options.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "hookprof.h"

namespace hookprof {
namespace {

class OptionsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* name :
         {"HOOKPROF_CPU_HZ", "HOOKPROF_SERVE", "HOOKPROF_MODE", "HOOKPROF_TRACE_BUFFER",
          "HOOKPROF_HEAP_RATE", "HOOKPROF_ADDR", "HOOKPROF_TOKENS"}) {
      unsetenv(name);
    }
    options_internal::TakeEnvironmentError();
    options_internal::TakeEnvironmentWarning();
  }
};

TEST_F(OptionsTest, ReadsEveryTypeFromTheEnvironment) {
  setenv("HOOKPROF_CPU_HZ", "250", 1);
  setenv("HOOKPROF_SERVE", "false", 1);
  setenv("HOOKPROF_MODE", "trace", 1);
  setenv("HOOKPROF_TRACE_BUFFER", "65536", 1);
  setenv("HOOKPROF_HEAP_RATE", "0", 1);
  setenv("HOOKPROF_ADDR", "", 1);  // Empty counts as unset.
  const Options o = OptionsFromEnvironment();
  EXPECT_EQ(o.cpu_hz, 250);
  EXPECT_FALSE(o.serve);
  EXPECT_EQ(o.mode, "trace");
  EXPECT_EQ(o.trace_buffer_bytes, 65536u);
  EXPECT_EQ(o.heap_rate, 0);
  EXPECT_EQ(o.address, "127.0.0.1:0");  // Under bazel test (see below).
  EXPECT_EQ(options_internal::TakeEnvironmentError(), "");
}

TEST_F(OptionsTest, KeepsTheDefaultAndNamesTheBoundsOfABadValue) {
  setenv("HOOKPROF_CPU_HZ", "20000", 1);
  setenv("HOOKPROF_SERVE", "yes", 1);
  setenv("HOOKPROF_HEAP_RATE", "-1", 1);
  const Options o = OptionsFromEnvironment();
  EXPECT_EQ(o.cpu_hz, 100);
  EXPECT_TRUE(o.serve);
  EXPECT_EQ(o.heap_rate, 512 * 1024);
  const std::string error = options_internal::TakeEnvironmentError();
  EXPECT_NE(error.find("HOOKPROF_CPU_HZ=\"20000\" is not an integer in [0, 10000]"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("HOOKPROF_SERVE=\"yes\" is not 0, 1, true or false"), std::string::npos)
      << error;
  EXPECT_NE(error.find("HOOKPROF_HEAP_RATE=\"-1\""), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << "one line";
}

TEST_F(OptionsTest, UseRefusesValuesOutsideTheirBounds) {
  Options options;
  options.address = "127.0.0.1:0";
  options.max_profile_windows = 0;
  std::string error;
  EXPECT_FALSE(Use(options, &error));
  EXPECT_NE(error.find("max_profile_windows = 0 is not an integer in [1, 1024]"), std::string::npos)
      << error;
  EXPECT_EQ(Port(), 0);
}

TEST_F(OptionsTest, UnderBazelTestListensOnAFreePortAndWritesTheProfileToTheOutputs) {
  ASSERT_NE(getenv("TEST_UNDECLARED_OUTPUTS_DIR"), nullptr) << "run under bazel test";
  Options o = OptionsFromEnvironment();
  EXPECT_EQ(o.address, "127.0.0.1:0");
  EXPECT_EQ(o.profile_out, "hookprof.pb.gz");
  EXPECT_EQ(options_internal::ResolveOutPath(o.profile_out),
            std::string(getenv("TEST_UNDECLARED_OUTPUTS_DIR")) + "/hookprof.pb.gz");
  setenv("HOOKPROF_ADDR", "127.0.0.1:9", 1);  // What the user says wins.
  EXPECT_EQ(OptionsFromEnvironment().address, "127.0.0.1:9");
  setenv("HOOKPROF_TEST_DEFAULTS", "0", 1);
  unsetenv("HOOKPROF_ADDR");
  o = OptionsFromEnvironment();
  EXPECT_EQ(o.address, "127.0.0.1:8900");
  EXPECT_EQ(o.profile_out, "");
  unsetenv("HOOKPROF_TEST_DEFAULTS");
}

TEST_F(OptionsTest, RefusesARemoteAddressWithoutAToken) {
  Options options;
  options.address = "0.0.0.0:0";
  options.allow_remote = true;
  std::string error;
  EXPECT_FALSE(Use(options, &error));
  EXPECT_NE(error.find("without a token"), std::string::npos) << error;
  EXPECT_EQ(Port(), 0);
  options.token = "t0k";
  EXPECT_TRUE(Use(options, &error)) << error;
  EXPECT_GT(Port(), 0);
  Stop();
}

TEST_F(OptionsTest, NamesAMisspeltVariableWithTheClosestKnownOne) {
  setenv("HOOKPROF_TOKENS", "x", 1);  // Would leave the server without its token, unsaid.
  OptionsFromEnvironment();
  EXPECT_EQ(options_internal::TakeEnvironmentWarning(),
            "HOOKPROF_TOKENS is not a hookprof variable (did you mean HOOKPROF_TOKEN?)");
  unsetenv("HOOKPROF_TOKENS");
  OptionsFromEnvironment();
  EXPECT_EQ(options_internal::TakeEnvironmentWarning(), "");
}

TEST_F(OptionsTest, PercentPInAnOutputNameIsTheProcessId) {
  EXPECT_EQ(options_internal::ResolveOutPath("/tmp/prof.%p.pb.gz"),
            "/tmp/prof." + std::to_string(getpid()) + ".pb.gz");
}

TEST_F(OptionsTest, AnOutputThatCannotBeWrittenIsSaidAtStartOnTheIndexPage) {
  Options options;
  options.serve = false;
  options.profile_out = "/nonexistent-hookprof-dir/whole.pb.gz";
  std::string error;
  EXPECT_TRUE(Use(options, &error)) << error;  // Said, not fatal: the program runs on.
  const HttpResponse index = HandleHttp("GET", "/debug/pprof/", "");
  EXPECT_NE(index.body.find("HOOKPROF_PROFILE_OUT=/nonexistent-hookprof-dir/whole.pb.gz"),
            std::string::npos)
      << index.body;
  EXPECT_NE(index.body.find("is not writable"), std::string::npos);
  Stop();
}

}  // namespace
}  // namespace hookprof
