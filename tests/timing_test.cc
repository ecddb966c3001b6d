// Timing mode: exact wall time per call path in the CPU profile (sample type wall/nanoseconds),
// decoded as pprof clients decode it, on workloads whose wall time is known (sleeps, a blocking
// read, recursion).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "instrument/mode.h"
#include "instrument/state/clock.h"
#include "instrument/state/thread_state.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/pprof/profile.pb.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/reports/latency.h"
#include "runtime/symbols/symbolizer.h"
#include "tests/profile_util.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using hookprof::pprof::Profile;
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

  // The profile of a window around `work`; `elapsed_ns` is the work's wall time measured around
  // it (a loaded machine oversleeps: the profile must match what happened, not what was asked).
  template <typename F>
  Profile Window(F work, double* elapsed_ns = nullptr) {
    const Snapshot begin = Snapshot::Take();
    const int64_t t0 = instrument::MonotonicNanos();
    work();
    const int64_t t1 = instrument::MonotonicNanos();
    if (elapsed_ns != nullptr) *elapsed_ns = double(t1 - t0);
    const Snapshot end = Snapshot::Take();
    runtime::ProfileBuilder b(runtime::Symbolizer::Create());
    runtime::BuildCpuProfile(Snapshot::Delta(begin, end), end.time_nanos - begin.time_nanos,
                             10000000, &b);
    return testing::Decode(b.Finish());
  }

  // The latency table over `work` (into `report` if given), and `name`'s row in it.
  template <typename F>
  runtime::LatencyRow Latency(F work, runtime::LatencyReport* report = nullptr,
                              const std::string& name = "workload::Nap(int)") {
    const runtime::LatencySnapshot before = runtime::TakeLatency();
    const Snapshot begin = Snapshot::Take();
    work();
    const Snapshot end = Snapshot::Take();
    runtime::LatencyReport r =
        runtime::BuildLatency(before, runtime::TakeLatency(), Snapshot::Delta(begin, end),
                              *runtime::Symbolizer::Create());
    runtime::LatencyRow row;
    for (const auto& each : r.rows) {
      if (each.name == name) row = each;
    }
    EXPECT_EQ(row.name, name) << "no row";
    if (report != nullptr) *report = std::move(r);
    return row;
  }
};

TEST_F(TimingTest, KnownSleepsHaveTheirWallTimeAsSelfTime) {
  double elapsed = 0;
  const Profile p = Window([] { workload::NapFiveTimes(100); }, &elapsed);
  auto f = ByFunction(p);
  const Totals& nap = f["workload::Nap(int)"];
  EXPECT_EQ(nap.calls, 5);
  EXPECT_GE(nap.flat_wall, 500e6);
  EXPECT_EQ(nap.flat_wall, nap.cum_wall);  // Its time is in nanosleep, which has no hooks.
  // Nap's time is nearly all of its caller's, which lies within the elapsed time (a busy machine
  // may preempt the thread before the first hook: that time is in no call).
  const Totals& five = f["workload::NapFiveTimes(int)"];
  EXPECT_NEAR(nap.flat_wall, five.cum_wall, 0.02 * five.cum_wall);
  EXPECT_LE(five.cum_wall, elapsed);
  EXPECT_LT(five.flat_wall, 5e6);  // Its own time: five calls, nearly nothing.
}

TEST_F(TimingTest, BlockingReadIsWallWithoutCpu) {
  double elapsed = 0;
  const Profile p = Window([] { EXPECT_EQ(workload::ReadPipeAfter(300), 1); }, &elapsed);
  auto f = ByFunction(p);
  const Totals& r = f["workload::ReadPipeAfter(int)"];
  EXPECT_GE(r.cum_wall, 300e6);
  EXPECT_NEAR(r.cum_wall, elapsed, 0.05 * elapsed);
  EXPECT_LT(r.cpu, 100e6);  // Off-CPU: wall >> cpu.
}

TEST_F(TimingTest, RecursionCountsTheRootCallsWallOnce) {
  double elapsed = 0;
  const Profile p = Window([] { workload::NapRecursively(20, 200); }, &elapsed);
  auto f = ByFunction(p);
  const Totals& rec = f["workload::NapRecursively(int, int)"];
  // 20 nested calls of one function, all inside the same 200 ms: cum is 200 ms, not 20 times it.
  EXPECT_NEAR(rec.cum_wall, elapsed, 0.05 * elapsed);
  EXPECT_EQ(rec.calls, 20);
  EXPECT_NEAR(f["workload::Nap(int)"].cum_wall, elapsed, 0.05 * elapsed);
}

TEST_F(TimingTest, ProfileModeReadsNoClockAndHasNoWall) {
  instrument::SetMode(instrument::kModeProfile);
  const Profile p = Window([] { workload::Nap(20); });
  for (const auto& t : p.sample_type()) EXPECT_NE(p.string_table(t.type()), "wall");
}

TEST_F(TimingTest, LatencyRowOfKnownSleepsHasTheirCountAndPercentiles) {
  // Four sleeps of 100 ms and one of 150 ms, each also timed here. Each call's hooks lie inside
  // the span measured here, so the k-th shortest call is at most the k-th shortest measured span
  // (the upper bounds); nanosleep never returns early, so each call is at least what it asked
  // for (the lower bounds). On a busy machine a measured span may be longer than the call by the
  // time the thread waited outside the hooks, so neither is compared with the other's exact
  // value. On a new thread: a call path that ran before the window (an earlier test's longer
  // nap) has its window's bounds only to a bucket's width.
  runtime::LatencyReport r;
  std::vector<double> took;
  const runtime::LatencyRow nap = Latency(
      [&took] {
        std::thread([&took] {
          for (int millis : {100, 100, 150, 100, 100}) {
            const auto start = std::chrono::steady_clock::now();
            workload::Nap(millis);
            took.push_back(
                std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                    .count());
          }
        }).join();
      },
      &r);
  EXPECT_EQ(nap.calls, 5u);
  ASSERT_EQ(took.size(), 5u);
  std::sort(took.begin(), took.end());
  // Percentiles are bucket midpoints, within 1.6 % of a call's value; 1 % more for the TSC's
  // calibration.
  for (double v : {nap.min_ns, nap.p50_ns, nap.p90_ns, nap.p99_ns, nap.max_ns}) {
    EXPECT_GE(v, 100e6 * 0.97);
    EXPECT_LE(v, took[4] * 1.03);
  }
  EXPECT_LE(nap.min_ns, took[0] * 1.01);
  EXPECT_LE(nap.p50_ns, took[2] * 1.03);
  // The maximum is the 150 ms call's own, not a 100 ms bucket's.
  EXPECT_GE(nap.max_ns, 150e6 * 0.99);
  EXPECT_LE(nap.min_ns, nap.p50_ns);
  EXPECT_LE(nap.p99_ns, nap.max_ns);
  const std::string json = runtime::LatencyJson(r);
  EXPECT_NE(json.find("{\"name\":\"workload::Nap(int)\",\"calls\":5,\"total_ns\":"),
            std::string::npos)
      << json;
}

TEST_F(TimingTest, ACallOnAThreadThatEndedIsInTheTable) {
  // One timed call, the thread's only one, and the thread gone before the table is read.
  const runtime::LatencyRow nap = Latency([] { std::thread([] { workload::Nap(20); }).join(); });
  EXPECT_EQ(nap.calls, 1u);
  EXPECT_GE(nap.min_ns, 19e6);
  EXPECT_EQ(nap.min_ns, nap.max_ns);
}

TEST_F(TimingTest, CallsInsideAndOutsideTheHotWindowAreAllInTheRow) {
  // The first calls place the function's hot window around 1 ms; the 30 ms calls fall far
  // outside it, into the histogram's cold part.
  const runtime::LatencyRow nap = Latency([] {
    for (int i = 0; i < 20; ++i) workload::Nap(1);
    for (int i = 0; i < 4; ++i) workload::Nap(30);
  });
  EXPECT_EQ(nap.calls, 24u);
  EXPECT_GE(nap.min_ns, 1e6);
  EXPECT_LT(nap.p50_ns, 20e6);
  EXPECT_GE(nap.p90_ns, 30e6 * 0.984);  // A bucket's midpoint: within 1.6 % of the value.
  EXPECT_GE(nap.max_ns, 30e6);
  EXPECT_LE(nap.p90_ns, nap.max_ns);
}

// What `fn`'s latency histogram on this thread holds in its hot window (counters and spills).
struct HotWindow {
  bool placed = false;
  uint64_t held = 0;
};
HotWindow WindowOnThisThread(const void* function) {
  HotWindow w;
  const instrument::ThreadState* s = instrument::t_state;
  if (s == nullptr) return w;
  const uintptr_t fn = reinterpret_cast<uintptr_t>(function);
  for (uint32_t i = 0; i < s->latency_used; ++i) {
    if (s->latency[i].fn != fn) continue;
    w.placed = s->latency_hot[i].base != instrument::kLatencyUnplaced;
    for (uint8_t c : s->latency_hot[i].counts) w.held += c;
    w.held += s->latency[i].spilled;
  }
  return w;
}

// The window tests time Spin, not a sleep: Spin(0) is one CPU-clock read, about a microsecond
// on a busy machine too, where a short sleep's wake-up wanders over two octaves.
TEST_F(TimingTest, AWindowThatMostCallsMissMovesToThemAndKeepsEveryCount) {
  // On a fresh thread (histograms are per thread): 64 calls of 2 ms place Spin's hot window
  // around 2 ms; the 400 calls of a microsecond that follow miss it, so after 64 misses it
  // moves to them and holds most of the other 336. Every call stays in the row.
  HotWindow w;
  const runtime::LatencyRow spin = Latency(
      [&] {
        std::thread([&] {
          for (int i = 0; i < 64; ++i) workload::Spin(2);
          for (int i = 0; i < 400; ++i) workload::Spin(0);
          w = WindowOnThisThread(reinterpret_cast<const void*>(&workload::Spin));
        }).join();
      },
      nullptr, "workload::Spin(int)");
  EXPECT_EQ(spin.calls, 464u);
  EXPECT_LT(spin.p50_ns, 1e6);
  EXPECT_GE(spin.p90_ns, 2e6 * 0.984);
  EXPECT_GE(spin.max_ns, 2e6);
  EXPECT_TRUE(w.placed) << "Spin's histogram not found or its window never placed";
  EXPECT_GE(w.held, 200u) << "the window did not move to the short calls";
}

TEST_F(TimingTest, AWindowThatHoldsMostCallsStaysWhereItIs) {
  // 64 calls of a microsecond place the window around them; then one call in four takes
  // 2 ms. Those 100 misses are a quarter of the calls since, so the window stays with the 300
  // short calls (with the check seeing no held calls, the window followed the misses and held 44).
  HotWindow w;
  const runtime::LatencyRow spin = Latency(
      [&] {
        std::thread([&] {
          for (int i = 0; i < 64; ++i) workload::Spin(0);
          for (int i = 0; i < 100; ++i) {
            for (int j = 0; j < 3; ++j) workload::Spin(0);
            workload::Spin(2);
          }
          w = WindowOnThisThread(reinterpret_cast<const void*>(&workload::Spin));
        }).join();
      },
      nullptr, "workload::Spin(int)");
  EXPECT_EQ(spin.calls, 464u);
  EXPECT_TRUE(w.placed) << "Spin's histogram not found or its window never placed";
  EXPECT_GE(w.held, 200u) << "the window left the short calls";
}

TEST_F(TimingTest, ACallOfMoreThanTwoToTheThirtyTwoTicksKeepsItsExactMaximum) {
  // 2.2 s is over 2^32 ticks at any TSC rate from 1.95 GHz up: the bounds of such calls are
  // kept in the histogram's cold part.
  const runtime::LatencyRow nap = Latency([] {
    workload::Nap(5);
    workload::Nap(2200);
  });
  EXPECT_EQ(nap.calls, 2u);
  EXPECT_GE(nap.max_ns, 2200e6);
  EXPECT_LT(nap.max_ns, 3000e6);
  EXPECT_GE(nap.min_ns, 0.97 * 5e6);  // A window's minimum is its lowest bucket's lower end.
  EXPECT_LT(nap.min_ns, 100e6);
}

TEST_F(TimingTest, MillionsOfCallsOfATinyFunctionAreCountedExactlyWhileBeingRead) {
  // Enough calls of one tiny function for its busiest window counters to pass 65,535 and move to
  // the cold part, while another thread reads the histograms: no bucket of any histogram may
  // ever go down between two reads (a read that saw a moved count twice would be followed by
  // one that does not), and the row has every call.
  constexpr int kCalls = 2000000;
  std::atomic<bool> done{false};
  std::atomic<int64_t> decreases{0}, reads{0};
  std::thread reader([&] {
    runtime::LatencySnapshot last;
    while (!done.load()) {
      runtime::LatencySnapshot now = runtime::TakeLatency();
      for (const auto& [key, p] : now) {
        auto before = last.find(key);
        if (before == last.end()) continue;
        for (const auto& [b, c] : before->second.counts) {
          auto it = p.counts.find(b);
          if (it == p.counts.end() || it->second < c) decreases.fetch_add(1);
        }
      }
      last = std::move(now);
      reads.fetch_add(1);
    }
  });
  const runtime::LatencyRow tick = Latency(
      [&] {
        for (int i = 0; i < kCalls; ++i) workload::Tick();
      },
      nullptr, "workload::Tick()");
  done = true;
  reader.join();
  EXPECT_EQ(tick.calls, uint64_t{kCalls});
  EXPECT_GT(reads.load(), 1);
  EXPECT_EQ(decreases.load(), 0);
  EXPECT_LE(tick.min_ns, tick.p50_ns);
  EXPECT_LE(tick.p99_ns, tick.max_ns);
}

// The histogram's buckets against the exact quantiles of a known distribution: durations from
// 1 to 10^9 ticks, log-uniform; each one's bucket midpoint is within 1/64 of it.
TEST(LatencyHistogramTest, BucketMidpointsAreWithinTwoPercentOfTheirValues) {
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 200000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const uint64_t v = 1 + static_cast<uint64_t>(std::pow(1e9, double(x % 1000000) / 1e6));
    const uint32_t b = instrument::LatencyBucket(v);
    const uint64_t low = instrument::LatencyBucketLow(b);
    const uint64_t width = instrument::LatencyBucketWidth(b);
    ASSERT_GE(v, low);
    ASSERT_LT(v, low + width);
    const double mid = double(low) + (width > 1 ? width / 2.0 : 0.0);
    ASSERT_LE(std::abs(mid - double(v)) / double(v), 1.0 / 64 + 1e-9) << v;
  }
  EXPECT_EQ(instrument::LatencyBucket(~uint64_t{0}), instrument::kLatencyBuckets - 1);
}

TEST_F(TimingTest, TimingIsAModeOfItsOwnName) {
  instrument::Mode m;
  ASSERT_TRUE(instrument::ParseMode("timing", &m));
  EXPECT_EQ(m, instrument::kModeTiming);
  EXPECT_STREQ(instrument::ModeName(instrument::kModeTiming), "timing");
}

}  // namespace
}  // namespace hookprof
