// The recorder: exact per-path call counts, recursion, depth cap, exceptions, thread exit,
// modes and guards, node-table limits.
#include "instrument/state/thread_state.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "instrument/mode.h"
#include "instrument/xray/xray.h"
#include "tests/test_util.h"
#include "tests/workload.h"

extern "C" void __cyg_profile_func_enter(void*, void*);
extern "C" void __cyg_profile_func_exit(void*, void*);

namespace hookprof {
namespace {

using instrument::ThreadState;
using testing::Addr;
using testing::RunOnNewThread;
using testing::TotalCalls;

// Paths are anchored at the first workload frame: see testing::FindPaths.
uint64_t CallsOnPath(const ThreadState* s, const std::vector<uintptr_t>& path) {
  return testing::CallsOnPath(s, path, workload::Functions());
}
int64_t FindPath(const ThreadState* s, const std::vector<uintptr_t>& path) {
  return testing::FindPath(s, path, workload::Functions());
}

TEST(ThreadStateTest, CountsExactCallsPerCallPath) {
  const ThreadState* s = RunOnNewThread([] {
    workload::Outer(3, 10);
    workload::Middle(4);
  });
  EXPECT_EQ(CallsOnPath(s, {Addr(&workload::Outer)}), 1u);
  EXPECT_EQ(CallsOnPath(s, {Addr(&workload::Outer), Addr(&workload::Middle)}), 3u);
  EXPECT_EQ(
      CallsOnPath(s, {Addr(&workload::Outer), Addr(&workload::Middle), Addr(&workload::Leaf)}),
      30u);
  EXPECT_EQ(CallsOnPath(s, {Addr(&workload::Middle), Addr(&workload::Leaf)}), 4u);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Leaf)), 34u);
  EXPECT_EQ(s->depth, 0u);
  EXPECT_EQ(instrument::LoadRelaxed(s->unmatched_exits), 0u);
}

TEST(ThreadStateTest, RecursionBuildsOneNodePerDepth) {
  const ThreadState* s = RunOnNewThread([] { workload::Recurse(50); });
  std::vector<uintptr_t> path;
  for (int i = 0; i < 50; ++i) {
    path.push_back(Addr(&workload::Recurse));
    EXPECT_EQ(CallsOnPath(s, path), 1u) << "depth " << i + 1;
  }
  path.push_back(Addr(&workload::Recurse));
  EXPECT_EQ(FindPath(s, path), -1);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Recurse)), 50u);
}

TEST(ThreadStateTest, DeepStacksAreCappedAndCountedWithoutLosingSync) {
  const ThreadState* s = RunOnNewThread([] {
    workload::Recurse(10000);
    workload::Middle(2);  // Must land at the root again afterwards.
  });
  // Frames above Recurse (the test's own, when it is instrumented too) take part of the cap.
  EXPECT_GT(instrument::LoadRelaxed(s->truncated_frames), 0u);
  EXPECT_EQ(instrument::LoadRelaxed(s->truncated_frames) + TotalCalls(s, Addr(&workload::Recurse)),
            10000u);
  EXPECT_LE(TotalCalls(s, Addr(&workload::Recurse)), instrument::kMaxDepth);
  // Every call past the cap is in calls/count too, on the summary node under the cap.
  EXPECT_EQ(TotalCalls(s, instrument::kDeepFn), instrument::LoadRelaxed(s->truncated_frames));
  EXPECT_EQ(CallsOnPath(s, {Addr(&workload::Middle), Addr(&workload::Leaf)}), 2u);
  EXPECT_EQ(s->depth, 0u);
}

TEST(ThreadStateTest, ExceptionsThroughInstrumentedFramesKeepTheStackInSync) {
  const ThreadState* s = RunOnNewThread([] {
    workload::CatchThenLeaf(5);
    workload::Leaf();
  });
  // Whatever the compiler does with exit hooks while unwinding, Leaf is the catcher's child.
  EXPECT_EQ(CallsOnPath(s, {Addr(&workload::CatchThenLeaf), Addr(&workload::Leaf)}), 1u);
  EXPECT_EQ(CallsOnPath(s, {Addr(&workload::Leaf)}), 1u);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::ThrowThrough)), 5u);
  EXPECT_EQ(s->depth, 0u);
}

// clang runs no exit hooks while unwinding: simulate it by entering frames that never exit.
// Each passes its return address as the compiler does.
__attribute__((noinline, no_instrument_function)) void EnterWithoutExit(int depth) {
  __cyg_profile_func_enter(reinterpret_cast<void*>(0x5000 + depth), __builtin_return_address(0));
  if (depth > 1) EnterWithoutExit(depth - 1);
  asm volatile("" ::: "memory");  // No tail call: each level keeps its own frame.
}

__attribute__((noinline, no_instrument_function)) void EnterExit(uintptr_t fn) {
  __cyg_profile_func_enter(reinterpret_cast<void*>(fn), __builtin_return_address(0));
  __cyg_profile_func_exit(reinterpret_cast<void*>(fn), __builtin_return_address(0));
}

__attribute__((noinline, no_instrument_function)) void CatcherWithoutExitHooks() {
  __cyg_profile_func_enter(reinterpret_cast<void*>(0x4000), __builtin_return_address(0));
  EnterWithoutExit(4);  // As if these frames were unwound by an exception.
  EnterExit(0x6000);    // The catcher calls on: this call must be the catcher's child.
  __cyg_profile_func_exit(reinterpret_cast<void*>(0x4000), __builtin_return_address(0));
}

// The same, from 5,000 frames down: past the shadow stack's cap.
__attribute__((noinline, no_instrument_function)) void DeepCatcherWithoutExitHooks() {
  __cyg_profile_func_enter(reinterpret_cast<void*>(0x4000), __builtin_return_address(0));
  EnterWithoutExit(5000);
  EnterExit(0x6000);
  EnterExit(0x6000);
  __cyg_profile_func_exit(reinterpret_cast<void*>(0x4000), __builtin_return_address(0));
}

TEST(ThreadStateTest, ResynchronisesWhenUnwindingSkipsExitHooksFromPastTheDepthCap) {
  const ThreadState* s = RunOnNewThread([] { DeepCatcherWithoutExitHooks(); });
  EXPECT_EQ(CallsOnPath(s, {0x4000, 0x6000}), 2u) << "calls after the unwinding were lost";
  EXPECT_EQ(s->depth, 0u);
  EXPECT_GT(instrument::LoadRelaxed(s->truncated_frames), 0u);
  EXPECT_EQ(TotalCalls(s, instrument::kDeepFn), instrument::LoadRelaxed(s->truncated_frames));
}

TEST(ThreadStateTest, ResynchronisesWhenUnwindingSkipsExitHooks) {
  const ThreadState* s = RunOnNewThread([] { CatcherWithoutExitHooks(); });
  EXPECT_EQ(CallsOnPath(s, {0x4000, 0x6000}), 1u);
  EXPECT_EQ(s->depth, 0u);
  EXPECT_GE(instrument::LoadRelaxed(s->resyncs), 4u);
  EXPECT_EQ(instrument::LoadRelaxed(s->unmatched_exits), 0u);
}

TEST(ThreadStateTest, InlinedFunctionsNestUnderTheirCaller) {
  if (instrument::XRayFunctions() > 0) GTEST_SKIP() << "XRay puts no sleds in inlined code";
  const ThreadState* s = RunOnNewThread([] { workload::CallsInlined(5); });
  EXPECT_EQ(TotalCalls(s, Addr(&workload::CallsInlined)), 1u);
  uint64_t nested = 0;
  for (uint32_t i = 2; i < instrument::PublishedNodes(s); ++i) {
    if (s->nodes[i].fn == Addr(&workload::CallsInlined) || s->nodes[i].fn == 0) continue;
    // The inlined function's own address is not exported: any other node with calls is it.
    if (s->nodes[s->nodes[i].parent].fn == Addr(&workload::CallsInlined)) {
      nested += instrument::LoadRelaxed(s->nodes[i].calls);
    }
  }
  EXPECT_EQ(nested, 5u);
  EXPECT_EQ(instrument::LoadRelaxed(s->resyncs), 0u);
  EXPECT_EQ(instrument::LoadRelaxed(s->unmatched_exits), 0u);
}

// Two hook calls from one frame with one return address: an inlined callee, not a stale frame.
__attribute__((noinline, no_instrument_function)) void EnterInlinedPair() {
  __cyg_profile_func_enter(reinterpret_cast<void*>(0x7000), reinterpret_cast<void*>(0x99));
  __cyg_profile_func_enter(reinterpret_cast<void*>(0x7100), reinterpret_cast<void*>(0x99));
  __cyg_profile_func_exit(reinterpret_cast<void*>(0x7100), reinterpret_cast<void*>(0x99));
  __cyg_profile_func_exit(reinterpret_cast<void*>(0x7000), reinterpret_cast<void*>(0x99));
}

// Two hook calls from one frame with different return addresses: the first was a sibling call
// whose exit hook never ran.
__attribute__((noinline, no_instrument_function)) void EnterSiblingsWithoutExit() {
  __cyg_profile_func_enter(reinterpret_cast<void*>(0x7200), reinterpret_cast<void*>(0x98));
  __cyg_profile_func_enter(reinterpret_cast<void*>(0x7300), reinterpret_cast<void*>(0x99));
  __cyg_profile_func_exit(reinterpret_cast<void*>(0x7300), reinterpret_cast<void*>(0x99));
}

TEST(ThreadStateTest, TellsInlinedCalleesFromSkippedSiblings) {
  const ThreadState* s = RunOnNewThread([] {
    EnterInlinedPair();
    EnterSiblingsWithoutExit();
  });
  EXPECT_EQ(CallsOnPath(s, {0x7000, 0x7100}), 1u);
  EXPECT_EQ(CallsOnPath(s, {0x7200, 0x7300}), 0u);
  EXPECT_EQ(TotalCalls(s, 0x7300), 1u);
  EXPECT_EQ(instrument::LoadRelaxed(s->resyncs), 1u);
}

// One call of `fn` from `site`, one machine frame below the caller's.
__attribute__((noinline, no_instrument_function)) void CallFrom(uintptr_t fn, uintptr_t site) {
  __cyg_profile_func_enter(reinterpret_cast<void*>(fn), reinterpret_cast<void*>(site));
  __cyg_profile_func_exit(reinterpret_cast<void*>(fn), reinterpret_cast<void*>(site));
  asm volatile("");  // Keeps the frame: no tail call into the exit hook.
}

// A parent calling its children in turn, as library code does: 0x8100 from two call sites,
// 0x8200 between them, so the caller's last child is never the next one.
__attribute__((noinline, no_instrument_function)) void CallChildrenInTurn(int rounds) {
  __cyg_profile_func_enter(reinterpret_cast<void*>(0x8000), reinterpret_cast<void*>(0x97));
  for (int i = 0; i < rounds; ++i) {
    CallFrom(0x8100, 0x81);
    CallFrom(0x8200, 0x82);
    CallFrom(0x8100, 0x83);
  }
  __cyg_profile_func_exit(reinterpret_cast<void*>(0x8000), reinterpret_cast<void*>(0x97));
}

TEST(ThreadStateTest, ChildrenCalledInTurnCountExactlyAndKeepTheirCallSites) {
  const ThreadState* s = RunOnNewThread([] { CallChildrenInTurn(1000); });
  EXPECT_EQ(CallsOnPath(s, {0x8000}), 1u);
  EXPECT_EQ(CallsOnPath(s, {0x8000, 0x8100}), 2000u);
  EXPECT_EQ(CallsOnPath(s, {0x8000, 0x8200}), 1000u);
  const int64_t twice = FindPath(s, {0x8000, 0x8100});
  const int64_t once = FindPath(s, {0x8000, 0x8200});
  ASSERT_GE(twice, 0);
  ASSERT_GE(once, 0);
  // Callers' lines come from these: one site known, or "several" (the function's entry line).
  EXPECT_EQ(instrument::LoadRelaxed(s->nodes[twice].sites), 2u);
  EXPECT_EQ(instrument::LoadRelaxed(s->nodes[once].sites), 1u);
  EXPECT_EQ(s->nodes[once].call_site, 0x82u);
  EXPECT_EQ(instrument::LoadRelaxed(s->resyncs), 0u);
  EXPECT_EQ(instrument::LoadRelaxed(s->unmatched_exits), 0u);
}

TEST(ThreadStateTest, ThreadsThatExitKeepTheirData) {
  const ThreadState* s = RunOnNewThread([] { workload::Middle(7); });
  EXPECT_EQ(__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE), 0);
  EXPECT_EQ(CallsOnPath(s, {Addr(&workload::Middle), Addr(&workload::Leaf)}), 7u);
  bool listed = false;
  for (const ThreadState* t = instrument::RegistryHead(); t != nullptr; t = t->next) {
    listed |= (t == s);
  }
  EXPECT_TRUE(listed);
}

TEST(ThreadStateTest, OffModeRecordsNothingAndResumingStartsClean) {
  const ThreadState* s = RunOnNewThread([] {
    workload::Middle(1);
    instrument::SetMode(instrument::kModeOff);
    workload::Middle(5);
    instrument::SetMode(instrument::kModeProfile);
    workload::Middle(2);
  });
  EXPECT_EQ(CallsOnPath(s, {Addr(&workload::Middle), Addr(&workload::Leaf)}), 3u);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Middle)), 2u);
}

TEST(ThreadStateTest, TraceModeRecordsEveryEnterAndExitWithTimestamps) {
  const ThreadState* s = RunOnNewThread([] {
    instrument::SetMode(instrument::kModeTrace);
    workload::Middle(3);
    instrument::SetMode(instrument::kModeProfile);
  });
  ASSERT_NE(s->ring, nullptr);
  const int64_t middle = FindPath(s, {Addr(&workload::Middle)});
  const int64_t leaf = FindPath(s, {Addr(&workload::Middle), Addr(&workload::Leaf)});
  ASSERT_GT(middle, 0);
  ASSERT_GT(leaf, 0);
  // Decode: skip sync events (node 0) and the test's own frames; expect M ( L L L ) M.
  std::vector<std::pair<int64_t, bool>> seen;
  uint64_t last_tsc = 0;
  for (uint64_t i = 0; i < s->ring_head; ++i) {
    const uint64_t e = s->ring[i & s->ring_mask];
    const int64_t node = (e >> instrument::kEventNodeShift) & instrument::kEventNodeMask;
    if (node == 0) continue;
    const uint64_t tsc = e >> instrument::kEventTscShift;
    EXPECT_GE(tsc, last_tsc);
    last_tsc = tsc;
    if (node == middle || node == leaf) seen.emplace_back(node, (e & instrument::kEventExit) != 0);
  }
  const std::vector<std::pair<int64_t, bool>> want = {{middle, false}, {leaf, false}, {leaf, true},
                                                      {leaf, false},   {leaf, true},  {leaf, false},
                                                      {leaf, true},    {middle, true}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(instrument::LoadRelaxed(s->ring_failures), 0u);
}

TEST(ThreadStateTest, TraceRingKeepsTheNewestEvents) {
  instrument::SetTraceRingEvents(1024);
  const ThreadState* s = RunOnNewThread([] {
    instrument::SetMode(instrument::kModeTrace);
    workload::Middle(2000);  // 4002 events: the ring holds the last 1024.
    instrument::SetMode(instrument::kModeProfile);
  });
  instrument::SetTraceRingEvents(1 << 20);
  EXPECT_EQ(s->ring_mask + 1, 1024u);
  EXPECT_GE(s->ring_head, 4002u);
  // The newest event is Middle's exit.
  const uint64_t last = s->ring[(s->ring_head - 1) & s->ring_mask];
  EXPECT_EQ(last & instrument::kEventExit, instrument::kEventExit);
  EXPECT_EQ(s->nodes[(last >> instrument::kEventNodeShift) & instrument::kEventNodeMask].fn,
            Addr(&workload::Middle));
}

TEST(ThreadStateTest, GuardedCodeIsNotRecorded) {
  const ThreadState* s = RunOnNewThread([] {
    {
      instrument::ScopedGuard guard;
      workload::Middle(5);
    }
    workload::Leaf();
  });
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Middle)), 0u);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Leaf)), 1u);
}

int CountRecordedThreads() {
  int n = 0;
  for (const ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    n += __atomic_load_n(&s->internal, __ATOMIC_RELAXED) ? 0 : 1;
  }
  return n;
}

TEST(ThreadStateTest, InternalThreadsAreNeverRecorded) {
  const int before = CountRecordedThreads();
  std::thread t([] {
    instrument::MarkCurrentThreadInternal();
    workload::Middle(3);
  });
  t.join();
  EXPECT_EQ(CountRecordedThreads(), before);
}

TEST(ThreadStateTest, TableGrowsWithDistinctPathsAndLookupsStayExact) {
  const ThreadState* s = RunOnNewThread([] {
    for (int round = 0; round < 3; ++round) {
      for (uintptr_t fn = 0x100000; fn < 0x100000 + 20000 * 16; fn += 16) EnterExit(fn);
    }
  });
  EXPECT_GE(s->table_mask + 1, 2u * 20000);
  EXPECT_EQ(CallsOnPath(s, {0x100000}), 3u);
  EXPECT_EQ(CallsOnPath(s, {0x100000 + 19999 * 16}), 3u);
  EXPECT_EQ(instrument::LoadRelaxed(s->dropped_paths), 0u);
}

TEST(ThreadStateTest, DropsAndCountsWhenNodeTableIsFull) {
  const uint32_t extra = 100;
  uint32_t before = 0;  // Nodes that existed already: root, overflow, the test's own frames.
  const ThreadState* s = RunOnNewThread([&] {
    before = instrument::CurrentThreadState()->node_count;
    for (uintptr_t i = 0; i < instrument::kMaxNodes + extra; ++i) EnterExit(0x10000000 + i * 16);
  });
  EXPECT_EQ(instrument::PublishedNodes(s), instrument::kMaxNodes);
  // Every path past the cap is counted and its calls land on the overflow node. (When the
  // test's own code is instrumented, a few of its paths may be among the dropped ones.)
  const uint64_t dropped = instrument::LoadRelaxed(s->dropped_paths);
  EXPECT_GE(dropped, before + extra);
  EXPECT_LE(dropped, before + extra + 8);
  EXPECT_EQ(instrument::LoadRelaxed(s->nodes[instrument::kOverflowNode].calls), dropped);
}

// A signal handler that runs instrumented code, delivered over and over to a thread that is
// itself entering and leaving hooks: nothing crashes, the stack stays in sync, the interrupted
// thread's own calls stay exact, and every handler call is either recorded or counted as
// interrupting a hook.
std::atomic<int> g_handled{0};
// Not instrumented itself (whatever the build config), so that only Leaf's calls are counted.
__attribute__((no_instrument_function)) void RunsInstrumentedCode(int) {
  workload::Leaf();
  g_handled.fetch_add(1, std::memory_order_relaxed);
}

TEST(ThreadStateTest, SignalsArrivingInsideHooksKeepCountsAndStackExact) {
  struct sigaction sa = {}, old = {};
  sa.sa_handler = &RunsInstrumentedCode;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  g_handled = 0;
  std::atomic<bool> running{false}, done{false};
  std::atomic<pthread_t> target{};
  std::thread signaller([&] {
    while (!running) std::this_thread::yield();
    while (!done) {
      pthread_kill(target.load(), SIGUSR1);
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  });
  uint64_t rounds = 0;
  const ThreadState* s = RunOnNewThread([&] {
    target = pthread_self();
    running = true;
    while (g_handled.load(std::memory_order_relaxed) < 2000) {
      workload::Outer(10, 10);
      ++rounds;
    }
    done = true;
  });
  signaller.join();
  sigaction(SIGUSR1, &old, nullptr);
  const uint64_t handled = g_handled.load();
  EXPECT_GE(handled, 2000u);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Outer)), rounds);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Middle)), 10 * rounds);
  const uint64_t interrupted = instrument::LoadRelaxed(s->interrupted_calls);
  EXPECT_LT(interrupted, handled);
  EXPECT_EQ(TotalCalls(s, Addr(&workload::Leaf)) + interrupted, 100 * rounds + handled);
  EXPECT_EQ(instrument::LoadRelaxed(s->unmatched_exits), 0u);
  EXPECT_EQ(instrument::LoadRelaxed(s->resyncs), 0u);
}

}  // namespace
}  // namespace hookprof
