// The XRay backend (--config=xray): the sleds feed the same recorder as the function hooks, are
// patched while hookprof records and left as nops in `off`. In other builds: no sleds, nothing
// patched (the backend stays out of the way).
#include "instrument/xray/xray.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "instrument/mode.h"
#include "instrument/state/thread_state.h"
#include "tests/calling_convention.h"
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
    EXPECT_GT(instrument::XRayFunctions(), 10u);     // Every workload function has sleds.
    EXPECT_TRUE(instrument::XRaySledsPatched());     // The default mode records.
    EXPECT_EQ(instrument::XRayOwnTrampolines(), 3);  // compiler-rt's lead to hookprof's.
  } else {
    EXPECT_EQ(instrument::XRayFunctions(), 0u);
    EXPECT_FALSE(instrument::XRaySledsPatched());
    EXPECT_EQ(instrument::XRayOwnTrampolines(), 0);
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

int64_t Weigh(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f) {
  return a * 1000000 + b * 100000 + c * 10000 + d * 1000 + e * 100 + f;
}

// Every register an argument or result can live in comes back as it went in, through the hooks
// (and under XRay hookprof's own trampolines: entry, exit and tail), in every mode that records.
TEST(XRayTest, ArgumentsAndResultsInEveryRegisterSurviveTheHooks) {
  namespace cc = calling_convention;
  for (const instrument::Mode mode :
       {instrument::kModeProfile, instrument::kModeTiming, instrument::kModeTrace}) {
    instrument::SetMode(mode);
    const instrument::ThreadState* s = RunOnNewThread([] {
      for (int i = 0; i < 100; ++i) {
        const double x = i + 0.5;
        EXPECT_EQ(cc::Mix8(x, 2, 3, 4, 5, 6, 7, 8), x + 4 + 9 + 20 + 35 + 66 + 91 + 136);
        EXPECT_EQ(cc::Mix6(i, 2, 3, 4, 5, 6), i + 4 + 9 + 20 + 35 + 66);
        EXPECT_EQ(cc::MixAll(i, 2, 3, 4, 5, 6, x, 2, 3, 4, 5, 6, 7, 8, 9, 10),
                  (i + 4 + 9 + 20 + 35 + 66) + 19 * (x + 4 + 9 + 20 + 35 + 66 + 91 + 136) + 23 * 9 +
                      29 * 10);
        EXPECT_EQ(cc::Third(3.0L * i), static_cast<long double>(i));
        const cc::Pair p = cc::Swap(i, -i);
        EXPECT_EQ(p.low, -i);
        EXPECT_EQ(p.high, i);
        const cc::Vec v = cc::Turn(cc::Vec{x, 2.5});
        EXPECT_EQ(v.x, -2.5);
        EXPECT_EQ(v.y, x);
        EXPECT_EQ(cc::SumDoubles(9, x, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), x + 44);
        EXPECT_EQ(cc::Dispatch(&Weigh, i), Weigh(i, i + 1, i + 2, i + 3, i + 4, i + 5));
      }
    });
    EXPECT_EQ(TotalCalls(s, Addr(&cc::Mix8)), BuiltWithXRay() ? 100u : 200u) << mode;
    EXPECT_EQ(TotalCalls(s, Addr(&cc::Dispatch)), 100u) << mode;
    EXPECT_EQ(s->depth, 0u) << mode;
  }
  instrument::SetMode(instrument::kModeProfile);
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

// XRay's id of the function at `fn`, 0 if it has none.
size_t XRayIdOf(uintptr_t fn) {
  for (size_t id = 1; id <= instrument::XRayFunctions(); ++id) {
    if (instrument::XRayFunctionAddress(id) == fn) return id;
  }
  return 0;
}

TEST(XRayTest, AFunctionSwitchedOffIsNotRecordedUntilSwitchedOnAgain) {
  if (!BuiltWithXRay()) {
    EXPECT_FALSE(instrument::XRayCanSwitchFunctions());
    EXPECT_FALSE(instrument::SetXRayFunctionHooked(1, false));
    GTEST_SKIP() << "not an XRay build";
  }
  ASSERT_TRUE(instrument::XRayCanSwitchFunctions());
  const size_t leaf = XRayIdOf(Addr(&workload::Leaf));
  ASSERT_NE(leaf, 0u);
  EXPECT_FALSE(instrument::SetXRayFunctionHooked(instrument::XRayFunctions() + 1, false));
  ASSERT_TRUE(instrument::SetXRayFunctionHooked(leaf, false));
  EXPECT_FALSE(instrument::XRayFunctionHooked(leaf));
  const instrument::ThreadState* off = RunOnNewThread([] { workload::Outer(3, 10); });
  EXPECT_EQ(TotalCalls(off, Addr(&workload::Leaf)), 0u);
  EXPECT_EQ(TotalCalls(off, Addr(&workload::Middle)), 3u);
  EXPECT_EQ(TotalCalls(off, Addr(&workload::Outer)), 1u);
  // Mode off and back patches every sled but this one's.
  instrument::SetMode(instrument::kModeOff);
  instrument::SetMode(instrument::kModeProfile);
  const instrument::ThreadState* again = RunOnNewThread([] { workload::Outer(3, 10); });
  EXPECT_EQ(TotalCalls(again, Addr(&workload::Leaf)), 0u);
  EXPECT_EQ(TotalCalls(again, Addr(&workload::Middle)), 3u);
  ASSERT_TRUE(instrument::SetXRayFunctionHooked(leaf, true));
  const instrument::ThreadState* on = RunOnNewThread([] { workload::Outer(3, 10); });
  EXPECT_EQ(TotalCalls(on, Addr(&workload::Leaf)), 30u);
}

// Four threads call Outer -> Middle -> Leaf while a fifth switches Leaf off and on 10,000
// times: the program runs on, and the functions never switched off are counted exactly.
TEST(XRayTest, SwitchingAFunctionUnderLoadKeepsTheOtherCountsExact) {
  if (!BuiltWithXRay()) GTEST_SKIP() << "not an XRay build";
  const size_t leaf = XRayIdOf(Addr(&workload::Leaf));
  ASSERT_NE(leaf, 0u);
  constexpr int kThreads = 4, kRounds = 20000;
  std::atomic<bool> go{false};
  std::atomic<int> finished{0};
  std::vector<const instrument::ThreadState*> states(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      states[t] = instrument::CurrentThreadState();
      while (!go.load()) {
      }
      for (int i = 0; i < kRounds; ++i) workload::Outer(2, 5);
      finished.fetch_add(1);
    });
  }
  go = true;
  // At least 10,000 switches, and on until every worker is done; ends switched on.
  int switches = 0;
  const auto start = std::chrono::steady_clock::now();
  for (; switches < 10000 || finished.load() < kThreads || switches % 2 == 1; ++switches) {
    EXPECT_TRUE(instrument::SetXRayFunctionHooked(leaf, switches % 2 == 1));
  }
  for (std::thread& w : workers) w.join();
  EXPECT_TRUE(instrument::XRayFunctionHooked(leaf));
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  printf("%d switches, %.1f us each (while four threads ran)\n", switches, us / switches);
  for (const instrument::ThreadState* s : states) {
    printf("Leaf calls recorded: %llu of %d\n",
           static_cast<unsigned long long>(TotalCalls(s, Addr(&workload::Leaf))), 10 * kRounds);
    EXPECT_EQ(TotalCalls(s, Addr(&workload::Outer)), uint64_t{kRounds});
    EXPECT_EQ(TotalCalls(s, Addr(&workload::Middle)), uint64_t{2 * kRounds});
    EXPECT_LE(TotalCalls(s, Addr(&workload::Leaf)), uint64_t{10 * kRounds});
    EXPECT_EQ(s->depth, 0u);
  }
}

}  // namespace
}  // namespace hookprof
