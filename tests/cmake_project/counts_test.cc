// A GoogleTest binary of a CMake project asserting exact counts (hookprof/testing.h, from the
// installed headers and library): the code under test is built with -finstrument-functions.
#include <string>
#include <vector>

#include "hookprof/testing.h"

namespace shop {

__attribute__((noinline)) int Price(const std::string& item) { return int(item.size()) * 100; }

__attribute__((noinline)) int Total(const std::vector<std::string>& cart) {
  int sum = 0;
  for (const std::string& item : cart) sum += Price(item);
  return sum;
}

}  // namespace shop

namespace {

TEST(Shop, TotalPricesEachItemOnceAndAllocatesNothing) {
  const std::vector<std::string> cart = {"apple", "pear", "fig"};
  hookprof::testing::Recorder r;
  EXPECT_EQ(shop::Total(cart), 1200);
  r.Stop();
  EXPECT_EQ(r.Calls("shop::Price"), 3u);
  EXPECT_THAT(r.Calls("shop::Total"), testing::Le(1));
  EXPECT_NO_ALLOCATIONS(r);
}

// Run by tests/preload_test.sh on purpose: its failure message names the call path.
TEST(Shop, DISABLED_PricesTooOften) {
  hookprof::testing::Recorder r;
  shop::Total({"apple", "pear", "fig", "kiwi"});
  EXPECT_THAT(r.Calls("shop::Price"), testing::Le(2));
}

}  // namespace
