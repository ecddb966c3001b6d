// The CPU sampler: per-thread CPU-time timers charge the function on top of the shadow stack.
#include "instrument/samplers/cpu_sampler.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <utility>

#include "instrument/state/clock.h"
#include "instrument/unwind.h"
#include "tests/plain_code.h"
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

// Samples on every node of thread `s`.
uint64_t AllSamples(const instrument::ThreadState* s) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < instrument::PublishedNodes(s); ++i) {
    total += instrument::LoadRelaxed(s->nodes[i].samples);
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
  if (!kSignalsDeferred) {
    EXPECT_GE(SamplesOn(s, Addr(&workload::Spin)), 20u);
  }
}

// The first node of `fn` on thread `s`, under any parent (clang's hooks put the test's own
// lambdas above it), or 0.
uint32_t NodeOf(const instrument::ThreadState* s, uintptr_t fn) {
  for (uint32_t i = 2; i < instrument::PublishedNodes(s); ++i) {
    if (s->nodes[i].fn == fn) return i;
  }
  return 0;
}

// The node of `fn` under `parent` on thread `s`, or 0.
uint32_t ChildOf(const instrument::ThreadState* s, uint32_t parent, uintptr_t fn) {
  for (uint32_t i = 2; i < instrument::PublishedNodes(s); ++i) {
    if (s->nodes[i].parent == parent && s->nodes[i].fn == fn) return i;
  }
  return 0;
}

TEST(CpuSamplerTest, WalksThePlainFramesUnderTheTopHookedOne) {
  // CallsOut (hooked) -> PlainOuter -> PlainInner (no hooks, spinning): the samples go to a
  // walked frame for PlainOuter's call under CallsOut's exact node.
  ASSERT_EQ(instrument::StartCpuSampling(500), 0);
  const instrument::ThreadState* s =
      testing::RunOnNewThread([] { workload::CallsOut(&plain_code::PlainOuter, 300); });
  instrument::StopCpuSampling();
  const uint32_t calls_out = NodeOf(s, Addr(&workload::CallsOut));
  ASSERT_NE(calls_out, 0u);
  EXPECT_EQ(s->nodes[calls_out].calls, 1u);  // The hooked part stays exact.
  if (NodeOf(s, Addr(&plain_code::PlainOuter)) != 0) {
    GTEST_SKIP() << "plain_code has hooks in this configuration (clang's after-inlining hooks)";
  }
  if (kSignalsDeferred) GTEST_SKIP() << "samples land on the next intercepted call under TSan";
  const uint32_t walked =
      ChildOf(s, calls_out, instrument::kUnwoundBit | plain_code::g_inner_returns_to);
  ASSERT_NE(walked, 0u) << "no walked frame for PlainOuter's call of PlainInner";
  const uint64_t under = SamplesUnder(s, Addr(&workload::CallsOut));
  EXPECT_GE(under, 50u);  // 300 ms at 500 Hz: about 150.
  EXPECT_GE(instrument::LoadRelaxed(s->nodes[walked].samples), under * 9 / 10);
  EXPECT_EQ(s->nodes[walked].calls, 0u);  // A walked frame counts samples, never calls.
}

TEST(CpuSamplerTest, KeepsExactCountsOfACallbackFromPlainCode) {
  // CallsOut (hooked) -> ForEach -> Middle (no hooks) -> Spin (hooked), 50 times: Spin's path is
  // CallsOut -> Spin with exactly 50 calls, called from Middle (a frame the profile shows).
  ASSERT_EQ(instrument::StartCpuSampling(500), 0);
  const instrument::ThreadState* s = testing::RunOnNewThread(
      [] { workload::CallsOut([](int n) { plain_code::ForEach(n, &workload::Spin, 2); }, 50); });
  instrument::StopCpuSampling();
  const uint32_t calls_out = NodeOf(s, Addr(&workload::CallsOut));
  ASSERT_NE(calls_out, 0u);
  if (NodeOf(s, Addr(&plain_code::ForEach)) != 0) {
    GTEST_SKIP() << "plain_code has hooks in this configuration (clang's after-inlining hooks)";
  }
  const uint32_t spin = ChildOf(s, calls_out, Addr(&workload::Spin));
  ASSERT_NE(spin, 0u);
  EXPECT_EQ(s->nodes[spin].calls, 50u);
  const uintptr_t site = s->nodes[spin].call_site;
  EXPECT_GT(site, plain_code::MiddleEntry());
  EXPECT_LT(site, plain_code::MiddleEntry() + 256) << "Spin's call site is not in Middle";
  if (!kSignalsDeferred) {
    EXPECT_GE(SamplesUnder(s, Addr(&workload::Spin)), 20u);
  }
}

TEST(CpuSamplerTest, LeavesHookprofsOwnWorkOnAProgramThreadOut) {
  // Under a ScopedGuard (the exit files, Use, HandleHttp on a program thread) the CPU is
  // hookprof's: counted as such, charged to no node of the program.
  ASSERT_EQ(instrument::StartCpuSampling(100), 0);
  const instrument::ThreadState* s = testing::RunOnNewThread([] {
    workload::Leaf();
    instrument::ScopedGuard guard;
    workload::Spin(300);
  });
  instrument::StopCpuSampling();
  uint64_t charged = 0;
  for (uint32_t i = 0; i < instrument::PublishedNodes(s); ++i) {
    charged += instrument::LoadRelaxed(s->nodes[i].samples);
  }
  EXPECT_LE(charged, 2u);  // A sample or two may land on Leaf, before the guard.
  EXPECT_GE(instrument::LoadRelaxed(s->own_work_samples), 15u);
}

// A program's own SIGPROF handler, installed before hookprof's.
std::atomic<int> g_program_signals{0};
void ProgramHandler(int) { g_program_signals.fetch_add(1, std::memory_order_relaxed); }

TEST(CpuSamplerTest, CountsOnlyItsOwnTimersAndPassesTheProgramsSignalsToItsHandler) {
  // The program profiles itself with ITIMER_PROF (1 kHz of process CPU) and its own handler;
  // hookprof starts after it, at 100 Hz. Before, hookprof's handler replaced the program's and
  // counted its signals as samples.
  struct sigaction program = {};
  program.sa_handler = &ProgramHandler;
  sigemptyset(&program.sa_mask);
  struct sigaction saved;
  ASSERT_EQ(sigaction(SIGPROF, &program, &saved), 0);
  const itimerval every_ms = {{0, 1000}, {0, 1000}};
  ASSERT_EQ(setitimer(ITIMER_PROF, &every_ms, nullptr), 0);
  ASSERT_EQ(instrument::StartCpuSampling(100), 0);
  const uint64_t foreign_before = instrument::ForeignSigprofSignals();
  const instrument::ThreadState* s = testing::RunOnNewThread([] { workload::Spin(300); });
  const itimerval off = {};
  setitimer(ITIMER_PROF, &off, nullptr);
  instrument::StopCpuSampling();
  EXPECT_TRUE(instrument::ChainsProgramSigprofHandler());
  // The program's signals reached its handler: ITIMER_PROF ticks with the kernel's clock (250
  // Hz here: 75 in 300 ms, not 300), and ThreadSanitizer merges the ones it holds back.
  const int want = kSignalsDeferred ? 1 : 30;
  EXPECT_GE(g_program_signals.load(), want);
  EXPECT_GE(instrument::ForeignSigprofSignals() - foreign_before, static_cast<uint64_t>(want));
  // hookprof's samples are its own: about 30 for 300 ms at 100 Hz, not 300 more.
  const uint64_t spin = SamplesUnder(s, Addr(&workload::Spin));
  EXPECT_GE(spin, 15u);
  EXPECT_LE(spin, 45u);
  // A handler the program installs afterwards replaces hookprof's: that is noticed.
  EXPECT_TRUE(instrument::SigprofHandlerIsOurs());
  ASSERT_EQ(sigaction(SIGPROF, &program, nullptr), 0);
  EXPECT_FALSE(instrument::SigprofHandlerIsOurs());
  ASSERT_EQ(instrument::StartCpuSampling(100), 0);  // Hookprof's again, for the other tests.
  instrument::StopCpuSampling();
  EXPECT_TRUE(instrument::SigprofHandlerIsOurs());
}

TEST(CpuSamplerTest, CountsOnlyCpuTimeNotWallTime) {
  ASSERT_EQ(instrument::StartCpuSampling(100), 0);
  const instrument::ThreadState* s = testing::RunOnNewThread([] {
    workload::Leaf();
    usleep(300000);  // Off CPU: no samples.
  });
  instrument::StopCpuSampling();
  EXPECT_LE(AllSamples(s), 2u);
}

// A new thread that spins 200 ms of CPU with SIGPROF blocked, sampled at 100 Hz, and unblocks
// it before it exits or not. Returns its state and the whole periods it spent so.
std::pair<const instrument::ThreadState*, uint64_t> SpinWithSigprofBlocked(bool unblock) {
  EXPECT_EQ(instrument::StartCpuSampling(100), 0);
  int64_t spent = 0;
  const instrument::ThreadState* s = testing::RunOnNewThread([&spent, unblock] {
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    const int64_t start = instrument::ClockNanos(CLOCK_THREAD_CPUTIME_ID);
    pthread_sigmask(SIG_BLOCK, &prof, nullptr);
    workload::Spin(200);
    spent = instrument::ClockNanos(CLOCK_THREAD_CPUTIME_ID) - start;
    if (unblock) pthread_sigmask(SIG_UNBLOCK, &prof, nullptr);
  });
  instrument::StopCpuSampling();
  return {s, static_cast<uint64_t>(spent / 10000000)};
}

TEST(CpuSamplerTest, PeriodsTheKernelMergedIntoOneSignalCountForTheirCpuTime) {
  // With SIGPROF blocked the timer's periods pile up on one pending signal (a busy machine does
  // the same: the thread runs on before its signal is delivered). Unblocked, that one signal
  // stands for every period the thread spent.
  const auto [s, periods] = SpinWithSigprofBlocked(true);
  const uint64_t total = AllSamples(s);
  EXPECT_GE(total + 1, periods);
  EXPECT_LE(total, periods + 1);
  EXPECT_GE(instrument::LoadRelaxed(s->coalesced_samples) + 2, periods);
  EXPECT_LE(instrument::LoadRelaxed(s->unsampled_periods), 1u);
}

TEST(CpuSamplerTest, PeriodsOfAThreadThatExitsBeforeItsSignalArrivesAreCounted) {
  // The thread ends with its signal still pending (blocked here; on a busy machine, not yet
  // delivered): its periods are in no sample, and are counted as such.
  const auto [s, periods] = SpinWithSigprofBlocked(false);
  EXPECT_EQ(AllSamples(s), 0u);
  EXPECT_GE(instrument::LoadRelaxed(s->unsampled_periods), periods);
  EXPECT_LE(instrument::LoadRelaxed(s->unsampled_periods), periods + 2);
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
