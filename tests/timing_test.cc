// Timing mode: exact wall time per call path in the CPU profile (sample type wall/nanoseconds),
// decoded as pprof clients decode it, on workloads whose wall time is known (sleeps, a blocking
// read, recursion).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "instrument/thread_state.h"
#include "runtime/cpu_profile.h"
#include "runtime/profile.pb.h"
#include "runtime/profile_builder.h"
#include "runtime/snapshot.h"
#include "runtime/symbolizer.h"
#include "tests/profile_util.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using perftools::profiles::Profile;
using runtime::Snapshot;

struct Totals {
  int64_t flat_wall = 0, cum_wall = 0, calls = 0, cpu = 0;
};

// Per function name: pprof's flat and cum of wall (each function counted once per sample, as
// pprof does with recursion), calls and cpu.
std::map<std::string, Totals> ByFunction(const Profile& p) {
  int wall = -1, calls = -1, cpu = -1;
  for (int i = 0; i < p.sample_type_size(); ++i) {
    const std::string& t = p.string_table(p.sample_type(i).type());
    if (t == "wall") wall = i;
    if (t == "calls") calls = i;
    if (t == "cpu") cpu = i;
  }
  EXPECT_GE(wall, 0) << "no wall sample type";
  std::map<std::string, Totals> out;
  if (wall < 0) return out;
  for (const auto& s : p.sample()) {
    std::map<std::string, bool> seen;
    for (int k = 0; k < s.location_id_size(); ++k) {
      const auto& loc = p.location(s.location_id(k) - 1);
      // The outermost line of a location is the function the frame belongs to.
      const auto& line = loc.line(loc.line_size() - 1);
      const std::string& name = p.string_table(p.function(line.function_id() - 1).name());
      Totals& t = out[name];
      if (k == 0) {
        t.flat_wall += s.value(wall);
        t.calls += s.value(calls);
        t.cpu += s.value(cpu);
      }
      if (!seen[name]) t.cum_wall += s.value(wall);
      seen[name] = true;
    }
  }
  return out;
}

class TimingTest : public ::testing::Test {
 protected:
  void SetUp() override { instrument::SetMode(instrument::kModeTiming); }
  void TearDown() override { instrument::SetMode(instrument::kModeProfile); }

  template <typename F>
  Profile Window(F work) {
    const Snapshot begin = Snapshot::Take();
    work();
    const Snapshot end = Snapshot::Take();
    runtime::ProfileBuilder b(runtime::Symbolizer::Create());
    runtime::BuildCpuProfile(Snapshot::Delta(begin, end), end.time_nanos - begin.time_nanos,
                             10000000, &b);
    return testing::Decode(b.Finish());
  }
};

TEST_F(TimingTest, KnownSleepsHaveTheirWallTimeAsSelfTime) {
  const Profile p = Window([] { workload::NapFiveTimes(100); });
  auto f = ByFunction(p);
  const Totals& nap = f["workload::Nap(int)"];
  EXPECT_EQ(nap.calls, 5);
  EXPECT_NEAR(nap.flat_wall, 500e6, 0.02 * 500e6);
  EXPECT_EQ(nap.flat_wall, nap.cum_wall);  // Its time is in sleep_for, which has no hooks.
  const Totals& five = f["workload::NapFiveTimes(int)"];
  EXPECT_NEAR(five.cum_wall, 500e6, 0.02 * 500e6);
  EXPECT_LT(five.flat_wall, 5e6);  // Its own time: five calls, nearly nothing.
}

TEST_F(TimingTest, BlockingReadIsWallWithoutCpu) {
  const Profile p = Window([] { EXPECT_EQ(workload::ReadPipeAfter(300), 1); });
  const Totals& r = ByFunction(p)["workload::ReadPipeAfter(int)"];
  EXPECT_NEAR(r.cum_wall, 300e6, 0.05 * 300e6);
  EXPECT_LT(r.cpu, 100e6);  // Off-CPU: wall >> cpu.
}

TEST_F(TimingTest, RecursionCountsTheRootCallsWallOnce) {
  const Profile p = Window([] { workload::NapRecursively(20, 200); });
  auto f = ByFunction(p);
  const Totals& rec = f["workload::NapRecursively(int, int)"];
  // 20 nested calls of one function, all inside the same 200 ms: cum is 200 ms, not 20 times it.
  EXPECT_NEAR(rec.cum_wall, 200e6, 0.05 * 200e6);
  EXPECT_EQ(rec.calls, 20);
  EXPECT_NEAR(f["workload::Nap(int)"].cum_wall, 200e6, 0.05 * 200e6);
}

TEST_F(TimingTest, ProfileModeReadsNoClockAndHasNoWall) {
  instrument::SetMode(instrument::kModeProfile);
  const Profile p = Window([] { workload::Nap(20); });
  for (const auto& t : p.sample_type()) EXPECT_NE(p.string_table(t.type()), "wall");
}

TEST_F(TimingTest, TimingIsAModeOfItsOwnName) {
  instrument::Mode m;
  ASSERT_TRUE(instrument::ParseMode("timing", &m));
  EXPECT_EQ(m, instrument::kModeTiming);
  EXPECT_STREQ(instrument::ModeName(instrument::kModeTiming), "timing");
}

}  // namespace
}  // namespace hookprof
