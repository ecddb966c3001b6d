// Mutex and block profiling: contended waits are timed and charged to the waiting call path
// (the releasing one for absl::Mutex, as abseil reports it), uncontended locks cost no record,
// and the sampling settings behave as Go's do.
#include "instrument/samplers/contention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "runtime/pprof/contention_profile.h"
#include "runtime/symbols/symbolizer.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using instrument::Contention;

struct Totals {
  double count = 0, delay_ns = 0;
};

// Totals of the buckets whose call path passes through `fn`.
Totals Under(Contention which, uintptr_t fn) {
  Totals t;
  for (const auto& b : instrument::ContentionBuckets(which)) {
    bool under = false;
    if (b.key.state != nullptr) {
      for (uint32_t n = b.key.node; n != instrument::kRootNode; n = b.key.state->nodes[n].parent) {
        under |= b.key.state->nodes[n].fn == fn;
      }
    }
    if (!under) continue;
    t.count += b.count;
    t.delay_ns += b.delay_ns;
  }
  return t;
}

Totals All(Contention which) {
  Totals t;
  for (const auto& b : instrument::ContentionBuckets(which)) {
    t.count += b.count;
    t.delay_ns += b.delay_ns;
  }
  return t;
}

template <typename F>
uintptr_t Fn(F* f) {
  return reinterpret_cast<uintptr_t>(f);
}

// Function addresses of the workload's internal waiters (declared in workload.cc only).
uintptr_t Named(const char* name) {
  const auto symbolizer = runtime::Symbolizer::Current();
  for (uintptr_t f : workload::Functions()) {
    const runtime::Symbol* s = symbolizer->FindSymbol(f);
    if (s != nullptr && s->name.find(name) != std::string::npos) return f;
  }
  ADD_FAILURE() << "no workload function named " << name;
  return 0;
}

class ContentionTest : public ::testing::Test {
 protected:
  void TearDown() override {
    instrument::SetMutexProfileFraction(1);
    instrument::SetBlockProfileRate(1);
  }
};

TEST_F(ContentionTest, ContendedStdMutexWaitIsChargedToTheWaiter) {
  const uintptr_t waiter = Named("WaitForLock");
  const Totals before = Under(Contention::kMutex, waiter);
  int64_t waited = 0;
  std::thread([&] { waited = workload::ContendMutex(200); }).join();
  const Totals after = Under(Contention::kMutex, waiter);
  ASSERT_GT(waited, 150e6);
  EXPECT_DOUBLE_EQ(after.count - before.count, 1);
  EXPECT_NEAR(after.delay_ns - before.delay_ns, double(waited), 0.2 * double(waited));
}

TEST_F(ContentionTest, UncontendedLocksAreNotRecorded) {
  const Totals before = All(Contention::kMutex);
  std::thread([] { workload::LockAlone(100000); }).join();
  EXPECT_EQ(All(Contention::kMutex).count, before.count);
}

TEST_F(ContentionTest, SharedMutexReaderWaitIsRecorded) {
  const uintptr_t reader = Named("ReadWhenFree");
  const Totals before = Under(Contention::kMutex, reader);
  int64_t waited = 0;
  std::thread([&] { waited = workload::ContendSharedMutex(150); }).join();
  const Totals after = Under(Contention::kMutex, reader);
  EXPECT_DOUBLE_EQ(after.count - before.count, 1);
  EXPECT_NEAR(after.delay_ns - before.delay_ns, double(waited), 0.2 * double(waited));
}

TEST_F(ContentionTest, AbslMutexWaitIsChargedToTheReleaser) {
  const uintptr_t releaser = Fn(&workload::HoldAbslLock);
  const Totals before = Under(Contention::kMutex, releaser);
  const int64_t waited = workload::ContendAbslMutex(200);
  const Totals after = Under(Contention::kMutex, releaser);
  EXPECT_GE(after.count - before.count, 1);
  EXPECT_NEAR(after.delay_ns - before.delay_ns, double(waited), 0.2 * double(waited));
}

TEST_F(ContentionTest, MutexFractionZeroRecordsNothing) {
  instrument::SetMutexProfileFraction(0);
  const Totals before = All(Contention::kMutex);
  workload::ContendMutex(20);
  EXPECT_EQ(All(Contention::kMutex).count, before.count);
}

TEST_F(ContentionTest, MutexFractionSamplesOneInNAndScales) {
  instrument::SetMutexProfileFraction(4);
  const uintptr_t waiter = Named("WaitForLock");
  const Totals before = Under(Contention::kMutex, waiter);
  int contended = 0;
  std::thread([&] {
    for (int i = 0; i < 200; ++i) contended += workload::ContendMutex(1) > 300000 ? 1 : 0;
  }).join();
  const Totals after = Under(Contention::kMutex, waiter);
  ASSERT_GT(contended, 100);
  // Binomial(contended, 1/4) x 4: four standard deviations inside +-50 %.
  EXPECT_NEAR(after.count - before.count, contended, 0.5 * contended);
  EXPECT_EQ(std::fmod(after.count - before.count, 4.0), 0.0);
}

TEST_F(ContentionTest, ConditionVariableWaitIsChargedToTheWaiter) {
  const uintptr_t waiter = Named("WaitOnCondition");
  const Totals before = Under(Contention::kBlock, waiter);
  int64_t waited = 0;
  std::thread([&] { waited = workload::WaitForSignal(200); }).join();
  const Totals after = Under(Contention::kBlock, waiter);
  EXPECT_GE(after.count - before.count, 1);
  EXPECT_NEAR(after.delay_ns - before.delay_ns, double(waited), 0.2 * double(waited));
}

TEST_F(ContentionTest, AbslCondVarWaitIsChargedToTheWaiter) {
  const uintptr_t waiter = Named("WaitOnAbslCondVar");
  const Totals before = Under(Contention::kBlock, waiter);
  int64_t waited = 0;
  std::thread([&] { waited = workload::WaitForAbslSignal(200); }).join();
  const Totals after = Under(Contention::kBlock, waiter);
  EXPECT_GE(after.count - before.count, 1);
  EXPECT_NEAR(after.delay_ns - before.delay_ns, double(waited), 0.2 * double(waited));
}

TEST_F(ContentionTest, JoinIsRecordedWholeAboveTheRate) {
  instrument::SetBlockProfileRate(1000000);  // 1 ms: a 100 ms join is always kept, weight 1.
  const uintptr_t joiner = Named("JoinHere");
  const Totals before = Under(Contention::kBlock, joiner);
  int64_t waited = 0;
  std::thread([&] { waited = workload::JoinSleeper(100); }).join();
  const Totals after = Under(Contention::kBlock, joiner);
  EXPECT_DOUBLE_EQ(after.count - before.count, 1);
  EXPECT_NEAR(after.delay_ns - before.delay_ns, double(waited), 0.2 * double(waited));
}

TEST_F(ContentionTest, ShortBlockingEventsAreSampledWithoutBias) {
  instrument::SetBlockProfileRate(10000000);  // 10 ms: 1 ms joins are kept ~1 in 9.
  const uintptr_t joiner = Named("JoinHere");
  const Totals before = Under(Contention::kBlock, joiner);
  double waited = 0;
  std::thread([&] {
    for (int i = 0; i < 400; ++i) waited += double(workload::JoinSleeper(1));
  }).join();
  const Totals after = Under(Contention::kBlock, joiner);
  // About 45 kept of 400: the estimates are within +-50 % by more than three deviations.
  EXPECT_NEAR(after.count - before.count, 400, 200);
  EXPECT_NEAR(after.delay_ns - before.delay_ns, waited, 0.5 * waited);
}

TEST_F(ContentionTest, BlockRateZeroRecordsNothing) {
  instrument::SetBlockProfileRate(0);
  const Totals before = All(Contention::kBlock);
  workload::JoinSleeper(5);
  workload::WaitForSignal(5);
  EXPECT_EQ(All(Contention::kBlock).count, before.count);
}

TEST_F(ContentionTest, HookprofsOwnWaitsAreNotRecorded) {
  const Totals mutex_before = All(Contention::kMutex), block_before = All(Contention::kBlock);
  std::thread([] {
    instrument::ScopedGuard guard;
    std::mutex m;
    std::thread holder([&] {
      instrument::ScopedGuard holder_guard;
      std::lock_guard<std::mutex> hold(m);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    m.lock();  // Contended, but under hookprof's guard.
    m.unlock();
    holder.join();
  }).join();
  EXPECT_EQ(All(Contention::kMutex).count, mutex_before.count);
  // The outer join above is the test's own, unguarded: exactly one block event.
  EXPECT_DOUBLE_EQ(All(Contention::kBlock).count - block_before.count, 1);
}

TEST_F(ContentionTest, LegacyTextHasGoHeaderAndStacks) {
  std::thread([] { workload::ContendMutex(20); }).join();
  const std::string text = runtime::ContentionText(
      "mutex", instrument::ContentionBuckets(Contention::kMutex), *runtime::Symbolizer::Current());
  EXPECT_EQ(text.rfind("--- mutex:\ncycles/second=1000000000\nsampling period=1\n", 0), 0u);
  EXPECT_NE(text.find("WaitForLock"), std::string::npos);
}

}  // namespace
}  // namespace hookprof
