// A user's GoogleTest binary: instrumented by --config=instrumented, profiled by linking
// @hookprof//:autostart, nothing else.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>

namespace consumer {

__attribute__((noinline)) uint64_t ParseField(uint64_t x) { return x * 31 + 7; }

__attribute__((noinline)) uint64_t ParseRecord(int fields) {
  uint64_t h = 0;
  for (int i = 0; i < fields; ++i) h += ParseField(h + i);
  return h;
}

}  // namespace consumer

// Exactly 1000 records of 10 fields: 1000 ParseRecord and 10000 ParseField calls.
TEST(ConsumerTest, ParsesRecords) {
  uint64_t total = 0;
  for (int i = 0; i < 1000; ++i) total += consumer::ParseRecord(10);
  EXPECT_NE(total, 0u);
}

// With CONSUMER_RUN_SECONDS set, keeps working that long, so a profile can be fetched while
// the test binary runs.
TEST(ConsumerTest, KeepsRunningWhenAsked) {
  const char* env = getenv("CONSUMER_RUN_SECONDS");
  const int seconds = env != nullptr ? atoi(env) : 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  uint64_t total = 0;
  while (std::chrono::steady_clock::now() < end) total += consumer::ParseRecord(100);
  EXPECT_GE(total, 0u);
}
