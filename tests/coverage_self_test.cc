// The coverage runtime built with coverage itself (as a user's global --copt would do where
// hookprof's own flags are not applied): its callbacks must not recurse, deadlock or miscount.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "instrument/coverage/coverage.h"
#include "tests/coverage_target.h"

namespace hookprof {
namespace {

uint64_t TotalHits() {
  instrument::CoverageCounts c;
  instrument::CollectCoverage(&c);
  uint64_t total = 0;
  for (uint64_t h : c.edge_hits) total += h;
  for (const auto& [pc, h] : c.pc_hits) total += h;
  return total;
}

TEST(CoverageSelfTest, RuntimeBuiltWithCoverageStillCountsEveryHit) {
  // The runtime's own slow paths and readers are instrumented here: their callbacks re-enter
  // and are counted as dropped, never recursing (a recursion would overflow the stack).
  // Hits per call of Positive (blocks per call depend on the compiler), from one thread.
  uint64_t before = TotalHits();
  for (int i = 0; i < 1000; ++i) coverage_target::Positive(i);
  const uint64_t per_call = (TotalHits() - before) / 1000;
  ASSERT_GE(per_call, 1u);
  before = TotalHits();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 10000; ++i) coverage_target::Positive(i);
    });
  }
  for (auto& t : threads) t.join();
  const uint64_t after = TotalHits();
  // Every call's hits from four threads; the reader's own edges add a few.
  EXPECT_GE(after - before, 40000u * per_call);
  EXPECT_LT(after - before, 40000u * per_call + 5000u);
  instrument::CoverageCounts c;
  instrument::CollectCoverage(&c);  // A reader with instrumented code inside must not deadlock.
  EXPECT_TRUE(instrument::CoverageActive());
}

}  // namespace
}  // namespace hookprof
