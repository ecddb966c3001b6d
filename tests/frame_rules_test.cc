// The frame rules from the modules' .eh_frame (runtime/symbols/frame_rules_builder) and the walks
// that follow them (instrument/stacks/walk.h): a function's caller before it made a frame, in the
// program and in libc; a function that keeps %rbp for data on the way; garbage never faults.
#include "instrument/stacks/frame_rules.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <random>

#include "instrument/stacks/walk.h"
#include "runtime/symbols/frame_rules_builder.h"
#include "tests/plain_code.h"

// A function as libc's allocator and string code are built: it saves the caller's %rbp, then
// uses the register for data while it calls on. Only its call frame information says where the
// caller's %rbp and return address are.
extern "C" void hookprof_test_rbp_as_data(void (*callee)());
asm(R"(
  .text
  .globl hookprof_test_rbp_as_data
  .type hookprof_test_rbp_as_data, @function
hookprof_test_rbp_as_data:
  .cfi_startproc
  push %rbp
  .cfi_def_cfa_offset 16
  .cfi_offset %rbp, -16
  movabs $0x123456789abc, %rbp
  call *%rdi
  pop %rbp
  .cfi_def_cfa_offset 8
  ret
  .cfi_endproc
  .size hookprof_test_rbp_as_data, .-hookprof_test_rbp_as_data
)");

namespace hookprof {
namespace {

class FrameRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const runtime::FrameRulesStats stats = runtime::PublishFrameRules();
    printf("rules for %d modules, %llu rows (%llu KiB), in %.1f ms\n", stats.modules,
           static_cast<unsigned long long>(stats.rows),
           static_cast<unsigned long long>(stats.rows * sizeof(instrument::FrameRow) / 1024),
           stats.nanos / 1e6);
  }
};

// The caller found when a thread is stopped at `function`'s first instruction, with a return
// address on top of its stack as a call leaves it, and no frame pointer to follow.
uintptr_t CallerAtEntry(uintptr_t function) {
  uintptr_t stack[4] = {0x5151, 0, 0, 0};
  uintptr_t out[4] = {};
  const int n =
      instrument::WalkFrames(function, reinterpret_cast<uintptr_t>(stack), 0, true, out, 4);
  return n >= 1 ? out[0] : 0;
}

TEST_F(FrameRulesTest, AtAFunctionsFirstInstructionTheCallerIsOnTopOfTheStack) {
  EXPECT_EQ(CallerAtEntry(reinterpret_cast<uintptr_t>(&getppid)), 0x5151u) << "libc";
  EXPECT_EQ(CallerAtEntry(reinterpret_cast<uintptr_t>(&plain_code::PlainOuter)), 0x5151u)
      << "the program";
}

TEST_F(FrameRulesTest, AddressesOutsideEveryModuleHaveNoRule) {
  uintptr_t stack[2] = {1, 2};
  EXPECT_EQ(instrument::FrameRuleAt(0x1000).kind, instrument::kRuleNone);
  EXPECT_EQ(instrument::FrameRuleAt(reinterpret_cast<uintptr_t>(stack)).kind,
            instrument::kRuleNone);
}

TEST_F(FrameRulesTest, PublishingAgainAddsNothing) {
  EXPECT_EQ(runtime::PublishFrameRules().modules, 0);
}

uintptr_t g_walk[instrument::kMaxWalkFrames + 1];
int g_walked = 0;

// Walks from its own frame, as the interposers do (unwind.cc's CallerNode).
__attribute__((noinline)) void WalkFromHere() {
  const auto* fp = static_cast<const uintptr_t*>(__builtin_frame_address(0));
  g_walk[0] = fp[1];
  g_walked = 1 + instrument::WalkFrames(fp[1], reinterpret_cast<uintptr_t>(fp + 2), fp[0], false,
                                        g_walk + 1, instrument::kMaxWalkFrames);
}

uintptr_t g_outer_return = 0;

__attribute__((noinline)) void CallsThroughRbpAsData() {
  g_outer_return = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  hookprof_test_rbp_as_data(&WalkFromHere);
  asm volatile("");  // Not a tail call: this frame stays on the stack.
}

TEST_F(FrameRulesTest, AWalkGoesOnThroughAFunctionThatKeepsDataInRbp) {
  CallsThroughRbpAsData();
  // WalkFromHere's saved %rbp is the data: a frame-pointer walk stops there. The rules restore the
  // caller's %rbp from the stack and reach CallsThroughRbpAsData's caller.
  bool found = false;
  for (int i = 0; i < g_walked; ++i) found |= g_walk[i] == g_outer_return;
  EXPECT_TRUE(found) << g_walked << " frames walked";
  EXPECT_LT(g_walked, instrument::kMaxWalkFrames) << "the walk ends at the thread's start";
}

TEST_F(FrameRulesTest, WalksFromGarbageRegistersEndWithoutAFault) {
  // Registers and stack words as a thread that keeps anything in them leaves them: addresses in
  // libc and the program, stack addresses, unmapped ones, small numbers.
  std::mt19937_64 random(42);
  uintptr_t stack[512];
  const uintptr_t code[] = {reinterpret_cast<uintptr_t>(&getppid),
                            reinterpret_cast<uintptr_t>(&memcpy),
                            reinterpret_cast<uintptr_t>(&plain_code::PlainOuter)};
  const auto pick = [&]() -> uintptr_t {
    switch (random() % 5) {
      case 0:
        return code[random() % 3] + random() % 4096;
      case 1:
        return reinterpret_cast<uintptr_t>(stack) + (random() % 600) * 8;
      case 2:
        return (uintptr_t{1} << 46) + random() % 4096 * 8;  // Unmapped.
      case 3:
        return random() % 65536;
      default:
        return random();
    }
  };
  int longest = 0;
  for (int round = 0; round < 20000; ++round) {
    for (uintptr_t& word : stack) word = pick();
    uintptr_t out[instrument::kMaxWalkFrames];
    const int n =
        instrument::WalkFrames(pick(), reinterpret_cast<uintptr_t>(stack) + (random() % 64) * 8,
                               pick(), true, out, instrument::kMaxWalkFrames);
    ASSERT_GE(n, 0);
    ASSERT_LE(n, instrument::kMaxWalkFrames);
    longest = std::max(longest, n);
  }
  printf("longest garbage walk: %d frames\n", longest);
}

}  // namespace
}  // namespace hookprof
