// The CPU sampler: per-thread CPU-time timers charge the function on top of the shadow stack.
#include "instrument/cpu_sampler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "tests/test_util.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using testing::Addr;

uint64_t SamplesOn(const instrument::ThreadState* s, uintptr_t fn) {
  uint64_t total = 0;
  for (uint32_t i = 2; i < instrument::PublishedNodes(s); ++i) {
    if (s->nodes[i].fn == fn) total += instrument::LoadRelaxed(s->nodes[i].samples);
  }
  return total;
}

// Samples on `fn` and everything it called.
uint64_t SamplesUnder(const instrument::ThreadState* s, uintptr_t fn) {
  uint64_t total = 0;
  for (uint32_t i = 2; i < instrument::PublishedNodes(s); ++i) {
    for (uint32_t n = i; n != instrument::kRootNode; n = s->nodes[n].parent) {
      if (s->nodes[n].fn == fn) {
        total += instrument::LoadRelaxed(s->nodes[i].samples);
        break;
      }
    }
  }
  return total;
}

// ThreadSanitizer holds asynchronous signals back until the thread's next intercepted call,
// so there a sample lands on the clock read that Spin makes, not on Spin itself.
#if defined(__SANITIZE_THREAD__)
constexpr bool kSignalsDeferred = true;
#else
constexpr bool kSignalsDeferred = false;
#endif

TEST(CpuSamplerTest, ChargesCpuTimeToTheRunningFunction) {
  ASSERT_EQ(instrument::StartCpuSampling(100), 0);
  EXPECT_EQ(instrument::CpuSamplingPeriodNanos(), 10000000u);
  const instrument::ThreadState* s = testing::RunOnNewThread([] { workload::Spin(400); });
  instrument::StopCpuSampling();
  // 400 ms of CPU at 100 Hz: about 40 samples on Spin (its clock reads are children).
  const uint64_t spin = SamplesUnder(s, Addr(&workload::Spin));
  EXPECT_GE(spin, 20u);
  EXPECT_LE(spin, 45u);
  if (!kSignalsDeferred) EXPECT_GE(SamplesOn(s, Addr(&workload::Spin)), 20u);
}

TEST(CpuSamplerTest, CountsOnlyCpuTimeNotWallTime) {
  ASSERT_EQ(instrument::StartCpuSampling(100), 0);
  const instrument::ThreadState* s = testing::RunOnNewThread([] {
    workload::Leaf();
    usleep(300000);  // Off CPU: no samples.
  });
  instrument::StopCpuSampling();
  uint64_t total = 0;
  for (uint32_t i = 0; i < instrument::PublishedNodes(s); ++i) {
    total += instrument::LoadRelaxed(s->nodes[i].samples);
  }
  EXPECT_LE(total, 2u);
}

TEST(CpuSamplerTest, ArmsThreadsThatStartAfterSamplingBegan) {
  ASSERT_EQ(instrument::StartCpuSampling(200), 0);
  const instrument::ThreadState* s = testing::RunOnNewThread([] { workload::Spin(200); });
  instrument::StopCpuSampling();
  EXPECT_GE(SamplesUnder(s, Addr(&workload::Spin)), 20u);
  EXPECT_EQ(instrument::CpuSamplingPeriodNanos(), 0u);
}

}  // namespace
}  // namespace hookprof
