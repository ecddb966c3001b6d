// Hook calls removed from the code at run time and put back (instrument/patching/call_sites.h):
// `off` takes each out as it runs, a function switched off loses its own, and counts stay exact for
// everything hooked throughout. Built three ways (tests/BUILD): direct calls, through the PLT,
// through the GOT (-fno-plt); HOOKPROF_SITE_FORM names the one this binary has.
#include "instrument/patching/call_sites.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "instrument/mode.h"
#include "instrument/state/thread_state.h"
#include "instrument/xray/xray.h"
#include "tests/call_sites_workload.h"
#include "tests/test_util.h"

namespace hookprof {
namespace {

using testing::Addr;
using testing::CallsOnPath;
using testing::RunOnNewThread;
using testing::TotalCalls;

#define HOOKPROF_NAME_OF(x) #x
#define HOOKPROF_NAME(x) HOOKPROF_NAME_OF(x)

// The sites' forms this binary was built to have (tests/BUILD).
uint64_t SitesOfThisForm(const instrument::SiteCounts& c) { return c.HOOKPROF_SITE_FORM; }

class CallSitesTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef HOOKPROF_TEST_XRAY
    GTEST_SKIP() << "XRay build: sleds, not hook calls";
#endif
    const char* why = "";
    ASSERT_TRUE(instrument::CanRemoveSites(&why)) << why;
    instrument::SetMode(instrument::kModeProfile);
  }
  void TearDown() override {
    instrument::HookAllFunctionsAgain();
    instrument::SetMode(instrument::kModeProfile);
  }
};

// The first bytes of a function: where its enter hook call is.
std::string CodeOf(const void* fn) { return std::string(static_cast<const char*>(fn), 64); }

TEST_F(CallSitesTest, OffTakesEachHookCallOutAndRecordingPutsThemBack) {
  const std::string before = CodeOf(reinterpret_cast<const void*>(&sites::Leaf));
  instrument::SetMode(instrument::kModeOff);
  int x = 0;
  RunOnNewThread([&] { sites::Loop(1000, &x); });
  EXPECT_EQ(x, 2000);
  uint32_t known = 0, removed = 0, left_alone = 0;
  instrument::SitesOf(Addr(&sites::Leaf), &known, &removed, &left_alone);
  EXPECT_GE(known, 2u) << "Leaf's enter and exit";
  EXPECT_GE(removed, 1u);
  // Left alone: a site whose first two bytes straddle a cache line (1 in 64; clang's PLT build).
  EXPECT_EQ(removed + left_alone, known);
  EXPECT_NE(CodeOf(reinterpret_cast<const void*>(&sites::Leaf)), before);
  EXPECT_GT(SitesOfThisForm(instrument::CountSites()), 0u) << HOOKPROF_NAME(HOOKPROF_SITE_FORM);

  instrument::SetMode(instrument::kModeProfile);
  EXPECT_EQ(CodeOf(reinterpret_cast<const void*>(&sites::Leaf)), before);
  instrument::SitesOf(Addr(&sites::Leaf), &known, &removed, &left_alone);
  EXPECT_EQ(removed, 0u);
  const instrument::ThreadState* s = RunOnNewThread([&] { sites::Loop(1000, &x); });
  EXPECT_EQ(x, 4000);
  EXPECT_EQ(TotalCalls(s, Addr(&sites::Leaf)), 1000u);
  EXPECT_EQ(TotalCalls(s, Addr(&sites::Kept)), 1000u);
  EXPECT_EQ(TotalCalls(s, Addr(&sites::Loop)), 1u);
}

TEST_F(CallSitesTest, ASwitchedOffFunctionIsNotCountedAndTheOthersStayExact) {
  ASSERT_TRUE(instrument::SetFunctionUnhooked(Addr(&sites::Leaf), true));
  int x = 0;
  const instrument::ThreadState* off = RunOnNewThread([&] { sites::Loop(1000, &x); });
  EXPECT_EQ(x, 2000);
  EXPECT_EQ(TotalCalls(off, Addr(&sites::Leaf)), 0u);
  EXPECT_EQ(TotalCalls(off, Addr(&sites::Kept)), 1000u);
  EXPECT_EQ(off->depth, 0u);
  uint32_t known = 0, removed = 0, left_alone = 0;
  instrument::SitesOf(Addr(&sites::Leaf), &known, &removed, &left_alone);
  EXPECT_GE(removed, 1u);
  EXPECT_EQ(removed + left_alone, known);

  // Kept through `off` and back: `off` does not put a switched-off function's calls back.
  instrument::SetMode(instrument::kModeOff);
  RunOnNewThread([&] { sites::Loop(10, &x); });
  instrument::SetMode(instrument::kModeProfile);
  instrument::SitesOf(Addr(&sites::Leaf), &known, &removed, &left_alone);
  EXPECT_EQ(removed + left_alone, known);

  ASSERT_TRUE(instrument::SetFunctionUnhooked(Addr(&sites::Leaf), false));
  const instrument::ThreadState* on = RunOnNewThread([&] { sites::Loop(1000, &x); });
  EXPECT_EQ(TotalCalls(on, Addr(&sites::Leaf)), 1000u);
  EXPECT_EQ(TotalCalls(on, Addr(&sites::Kept)), 1000u);
}

// Four threads call Leaf and Kept until this one has switched Leaf off and on 10,000 times,
// then `off` and back 1,000 times: every result is right, and Kept, hooked throughout the first
// part, has every call.
TEST_F(CallSitesTest, SwitchingUnderFourThreadsKeepsResultsRightAndTheOthersExact) {
  constexpr int kThreads = 4, kPerRound = 50;
  std::atomic<bool> stop{false};
  std::vector<int> results(kThreads, 0);
  std::vector<uint64_t> rounds(kThreads, 0);
  std::vector<const instrument::ThreadState*> states(kThreads, nullptr);
  auto run = [&] {
    stop = false;
    std::fill(results.begin(), results.end(), 0);
    std::fill(rounds.begin(), rounds.end(), 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        states[t] = instrument::CurrentThreadState();
        while (!stop.load(std::memory_order_relaxed)) {
          sites::Loop(kPerRound, &results[t]);
          ++rounds[t];
        }
      });
    }
    return threads;
  };
  std::vector<std::thread> threads = run();
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(instrument::SetFunctionUnhooked(Addr(&sites::Leaf), i % 2 == 0));
  }
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - begin).count() /
      10000;
  stop = true;
  for (std::thread& t : threads) t.join();
  printf("10000 switches of Leaf under 4 threads: %.1f us each (%llu code changes so far)\n", us,
         static_cast<unsigned long long>(instrument::CountSites().changes));
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(results[t], 2 * kPerRound * rounds[t]);
    EXPECT_EQ(TotalCalls(states[t], Addr(&sites::Kept)), rounds[t] * kPerRound);
    EXPECT_LE(TotalCalls(states[t], Addr(&sites::Leaf)), rounds[t] * kPerRound);
  }

  // `off` and back: everything is taken out and put back each time.
  threads = run();
  for (int i = 0; i < 1000; ++i) {
    instrument::SetMode(instrument::kModeOff);
    instrument::SetMode(instrument::kModeProfile);
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(results[t], 2 * kPerRound * rounds[t]);
  uint32_t known = 0, removed = 0, left_alone = 0;
  instrument::SitesOf(Addr(&sites::Leaf), &known, &removed, &left_alone);
  EXPECT_EQ(removed, 0u);
  const instrument::ThreadState* after = RunOnNewThread([&] {
    int y = 0;
    sites::Loop(100, &y);
  });
  EXPECT_EQ(TotalCalls(after, Addr(&sites::Leaf)), 100u);
}

void SwitchRecurseOff() { instrument::SetFunctionUnhooked(Addr(&sites::Recurse), true); }

// Recurse is switched off 20 frames deep, while 10 of its frames are live: those left without an
// exit call (once its exit site is out of the code) are popped by the next call from higher up
// (resynchronisation), and the recursion after it, hooked again, is recorded frame for frame.
TEST_F(CallSitesTest, FramesLiveWhenTheirFunctionWasSwitchedOffAreResynchronised) {
  const instrument::ThreadState* s = RunOnNewThread([] {
    EXPECT_EQ(sites::Recurse(30, 20, &SwitchRecurseOff), 30);
    instrument::SetFunctionUnhooked(Addr(&sites::Recurse), false);
    EXPECT_EQ(sites::Again(30), 31);
  });
  EXPECT_EQ(s->depth, 0u);
  std::vector<uintptr_t> path = {Addr(&sites::Again)};
  for (int k = 1; k <= 31; ++k) {
    path.push_back(Addr(&sites::Recurse));
    EXPECT_EQ(CallsOnPath(s, path), 1u) << "Again then " << k << " Recurse frames";
  }
}

// One call site of TailLeaf (a loop calling it directly may be unrolled into several).
__attribute__((noinline)) void CallTailLeaf(int* x) {
  sites::TailLeaf(x);
  asm volatile("" ::: "memory");  // Not a tail call itself.
}

TEST_F(CallSitesTest, TailCalledExitsAndOtherBytesAreLeftAloneAndCounted) {
  const instrument::SiteCounts before = instrument::CountSites();
  instrument::SetMode(instrument::kModeOff);
  int x = 0;
  for (int i = 0; i < 3; ++i) {
    CallTailLeaf(&x);
    sites::CallsHookThroughPointer();
  }
  instrument::SetMode(instrument::kModeProfile);
  EXPECT_EQ(x, 3);
  const instrument::SiteCounts after = instrument::CountSites();
  // At least: under --config=instrumented* this test's own code has hook calls too.
  EXPECT_GE(after.unexpected, before.unexpected + 1) << "the call through a pointer";
#if defined(__clang__) || defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  const uint64_t tail_calls = 0;  // TailLeaf's exit hook is called, then it returns.
#else
  const uint64_t tail_calls = 1;  // TailLeaf's jump to the exit hook.
#endif
  EXPECT_GE(after.tail_calls, before.tail_calls + tail_calls);
  const instrument::ThreadState* s = RunOnNewThread([&] { sites::TailLeaf(&x); });
  EXPECT_EQ(TotalCalls(s, Addr(&sites::TailLeaf)), 1u);
  EXPECT_EQ(s->depth, 0u);
}

// A call whose first two bytes straddle a cache line cannot become a short jump in one store: its
// rel32 (all in the next line) is pointed at a `ret` instead, and put back the same way.
TEST_F(CallSitesTest, ACallSplitByACacheLineIsPointedAtARet) {
  const uintptr_t fn = Addr(&sites_straddled_calls);
  ASSERT_EQ(fn % 64, 0u);
  ASSERT_EQ(reinterpret_cast<const uint8_t*>(fn)[63], 0xe8);
  const std::string before(reinterpret_cast<const char*>(fn + 64), 4);
  instrument::SetMode(instrument::kModeOff);
  sites_straddled_calls();
  sites_straddled_calls();
  uint32_t known = 0, removed = 0, left_alone = 0;
  instrument::SitesOf(fn, &known, &removed, &left_alone);
  EXPECT_EQ(known, 2u);
  EXPECT_EQ(removed, 2u);
  EXPECT_NE(std::string(reinterpret_cast<const char*>(fn + 64), 4), before);
  instrument::SetMode(instrument::kModeProfile);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(fn + 64), 4), before);
  const instrument::ThreadState* s = RunOnNewThread([] { sites_straddled_calls(); });
  EXPECT_EQ(TotalCalls(s, fn), 1u);
  EXPECT_EQ(s->depth, 0u);
}

// mprotect(PROT_WRITE | PROT_EXEC) fails with EACCES from here on, as under a W^X policy.
bool RefuseWritableCode() {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         syscall(SYS_seccomp, static_cast<long>(SECCOMP_SET_MODE_FILTER), 0L, &prog) == 0;
}

// In a child refused writable code: `off` and switching leave every hook call in place, say why,
// and recording stays exact.
TEST_F(CallSitesTest, CodeThatCannotBeMadeWritableKeepsItsHooksAndSaysWhy) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    std::string report;
    if (!RefuseWritableCode()) {
      report = "seccomp unavailable: " + std::string(strerror(errno));
    } else {
      instrument::SetMode(instrument::kModeOff);
      int x = 0;
      sites::Loop(10, &x);
      instrument::SetFunctionUnhooked(Addr(&sites::Kept), true);
      instrument::SetMode(instrument::kModeProfile);
      instrument::SetFunctionUnhooked(Addr(&sites::Kept), false);
      const uint64_t calls = TotalCalls(instrument::CurrentThreadState(), Addr(&sites::Leaf));
      sites::Loop(100, &x);
      const char* why = "";
      const bool can = instrument::CanRemoveSites(&why);
      uint32_t known = 0, removed = 0, left_alone = 0;
      instrument::SitesOf(Addr(&sites::Leaf), &known, &removed, &left_alone);
      report =
          std::string(can ? "can" : "cannot") + "|" + why + "|" + std::to_string(removed) + "|" +
          std::to_string(x) + "|" +
          std::to_string(TotalCalls(instrument::CurrentThreadState(), Addr(&sites::Leaf)) - calls);
    }
    (void)!write(pipe_fds[1], report.data(), report.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof(buf))) > 0;) report.append(buf, n);
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child crashed: " << report;
  if (report.rfind("seccomp unavailable", 0) == 0) GTEST_SKIP() << report;
  EXPECT_EQ(report,
            "cannot|the system refused to make the program's code writable (Permission "
            "denied): the hooks stay|0|220|100");
}

}  // namespace
}  // namespace hookprof
