// The XRay backend (--config=xray): the sleds feed the same recorder as the function hooks, are
// patched while hookprof records and left as nops in `off`. In other builds: no sleds, nothing
// patched (the backend stays out of the way).
#include "instrument/xray.h"

#include <gtest/gtest.h>

#include "instrument/thread_state.h"
#include "tests/test_util.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using testing::Addr;
using testing::RunOnNewThread;
using testing::TotalCalls;

bool BuiltWithXRay() {
#ifdef HOOKPROF_TEST_XRAY
  return true;
#else
  return false;
#endif
}

TEST(XRayTest, SledsAreFoundExactlyInXRayBuilds) {
  if (BuiltWithXRay()) {
    EXPECT_GT(instrument::XRayFunctions(), 10u);  // Every workload function has sleds.
    EXPECT_TRUE(instrument::XRaySledsPatched());  // The default mode records.
  } else {
    EXPECT_EQ(instrument::XRayFunctions(), 0u);
    EXPECT_FALSE(instrument::XRaySledsPatched());
  }
}

TEST(XRayTest, OffUnpatchesTheSledsAndRecordingPatchesThemAgain) {
  if (!BuiltWithXRay()) GTEST_SKIP() << "not an XRay build";
  instrument::SetMode(instrument::kModeOff);
  EXPECT_FALSE(instrument::XRaySledsPatched());
  const instrument::ThreadState* off = RunOnNewThread([] { workload::Outer(3, 10); });
  EXPECT_EQ(TotalCalls(off, Addr(&workload::Leaf)), 0u);  // Nops: the handler never ran.
  instrument::SetMode(instrument::kModeProfile);
  EXPECT_TRUE(instrument::XRaySledsPatched());
  const instrument::ThreadState* on = RunOnNewThread([] { workload::Outer(3, 10); });
  EXPECT_EQ(TotalCalls(on, Addr(&workload::Outer)), 1u);
  EXPECT_EQ(TotalCalls(on, Addr(&workload::Middle)), 3u);
  EXPECT_EQ(TotalCalls(on, Addr(&workload::Leaf)), 30u);
  EXPECT_EQ(on->depth, 0u);
  // The call site, read from above the entry trampoline: a return address inside the caller.
  for (uint32_t i = 2; i < instrument::PublishedNodes(on); ++i) {
    const instrument::Node& n = on->nodes[i];
    if (n.fn != Addr(&workload::Middle)) continue;
    EXPECT_GT(n.call_site, Addr(&workload::Outer));
    EXPECT_LT(n.call_site, Addr(&workload::Outer) + 4096);
  }
}

TEST(XRayTest, TimingModeMeasuresCallsThroughTheSleds) {
  if (!BuiltWithXRay()) GTEST_SKIP() << "not an XRay build";
  instrument::SetMode(instrument::kModeTiming);
  const instrument::ThreadState* s = RunOnNewThread([] { workload::NapFiveTimes(20); });
  instrument::SetMode(instrument::kModeProfile);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Nap)), 5u);
  uint64_t wall = 0;
  for (uint32_t i = 2; i < instrument::PublishedNodes(s); ++i) {
    if (s->nodes[i].fn == Addr(&workload::Nap)) wall += s->nodes[i].wall_ticks;
  }
  EXPECT_GT(wall, 0u);
}

}  // namespace
}  // namespace hookprof
