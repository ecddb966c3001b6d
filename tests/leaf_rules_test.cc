// The frame rules from the modules' .eh_frame (runtime/symbols/leaf_rules_builder): where a
// function's caller is before it made a frame, in the program and in libc.
#include "instrument/leaf_rules.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include "runtime/symbols/leaf_rules_builder.h"
#include "tests/plain_code.h"

namespace hookprof {
namespace {

class LeafRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const runtime::LeafRulesStats stats = runtime::PublishLeafRules();
    printf("rules for %d modules, %llu rows (%llu KiB), in %.1f ms\n", stats.modules,
           static_cast<unsigned long long>(stats.rows),
           static_cast<unsigned long long>(stats.rows * sizeof(instrument::LeafRow) / 1024),
           stats.nanos / 1e6);
  }
};

// A stack whose top word is a return address, as a call leaves it.
uintptr_t CallerAtEntry(uintptr_t function) {
  uintptr_t stack[4] = {0x5151, 0, 0, 0};
  uintptr_t caller = 0;
  if (!instrument::LeafReturnAddress(function, reinterpret_cast<uintptr_t>(stack), &caller)) {
    return 0;
  }
  return caller;
}

TEST_F(LeafRulesTest, AtAFunctionsFirstInstructionTheCallerIsOnTopOfTheStack) {
  EXPECT_EQ(CallerAtEntry(reinterpret_cast<uintptr_t>(&getppid)), 0x5151u) << "libc";
  EXPECT_EQ(CallerAtEntry(reinterpret_cast<uintptr_t>(&plain_code::PlainOuter)), 0x5151u)
      << "the program";
}

TEST_F(LeafRulesTest, AddressesOutsideEveryModuleHaveNoRule) {
  uintptr_t caller = 0;
  uintptr_t stack[2] = {1, 2};
  EXPECT_FALSE(instrument::LeafReturnAddress(0x1000, reinterpret_cast<uintptr_t>(stack), &caller));
  EXPECT_FALSE(instrument::LeafReturnAddress(reinterpret_cast<uintptr_t>(stack),
                                             reinterpret_cast<uintptr_t>(stack), &caller));
}

TEST_F(LeafRulesTest, PublishingAgainAddsNothing) {
  EXPECT_EQ(runtime::PublishLeafRules().modules, 0);
}

}  // namespace
}  // namespace hookprof
