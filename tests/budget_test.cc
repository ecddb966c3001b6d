// The hooks' cost budget (runtime/budget): over budget, the functions that tell least per hook
// are switched off, a pinned one never is, its calls stay exact, and a new budget puts the
// budget's functions back. Runs with either backend (the workload is hooked in every build).
#include "runtime/budget/budget.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "instrument/cost/hook_cost.h"
#include "instrument/mode.h"
#include "instrument/state/thread_state.h"
#include "runtime/reports/functions.h"
#include "runtime/switching/switching.h"
#include "tests/call_sites_workload.h"
#include "tests/test_util.h"

namespace hookprof {
namespace {

using testing::Addr;
using testing::RunOnNewThread;
using testing::TotalCalls;

// The functions list's row of `fn`; its address is 0 when the list has none.
runtime::FunctionRow RowOf(uintptr_t fn) {
  for (const runtime::FunctionRow& r : runtime::ListFunctions().rows) {
    if (r.address == fn) return r;
  }
  return {};
}

class BudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    instrument::SetMode(instrument::kModeProfile);
    std::string error;
    size_t changed = 0;
    if (!runtime::SwitchFunctionsAt({}, false, &changed, &error)) {
      GTEST_SKIP() << "functions cannot be switched in this build: " << error;
    }
  }
  void TearDown() override {
    std::string error;
    size_t changed = 0;
    runtime::SetHookBudget(0, &error);
    runtime::HookAllFunctions(&changed, &error);
  }
};

TEST_F(BudgetTest, HookCostIsMeasuredInRecordingModesOnly) {
  const double ns = instrument::MeasureHookNanos(10000);
  EXPECT_GT(ns, 0);
  EXPECT_LT(ns, 5000) << "thread CPU time per hooked call";
  EXPECT_GT(instrument::HookNanos(), 0) << "kept for the mode";
  instrument::SetMode(instrument::kModeOff);
  EXPECT_EQ(instrument::MeasureHookNanos(10000), 0);
  EXPECT_EQ(instrument::HookNanos(), 0);
}

TEST_F(BudgetTest, OverBudgetTheCheapestHotFunctionsGoAndPinnedOnesStayExact) {
  std::string error;
  size_t changed = 0;
  ASSERT_TRUE(runtime::SwitchFunctions("^sites::Kept", true, &changed, &error)) << error;
  ASSERT_TRUE(runtime::FunctionPinned(Addr(&sites::Kept)));
  // Leaf and Kept do nothing but count: their hooks are most of the loop's time, far over 1 %.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> loops{0};
  std::thread busy([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      int x = 0;
      sites::Loop(1000, &x);
      loops.fetch_add(1, std::memory_order_relaxed);
    }
  });
  ASSERT_TRUE(runtime::SetHookBudget(1, &error)) << error;
  // Checks, not seconds: a loaded machine makes them late, not fewer.
  runtime::BudgetState state;
  for (int i = 0; i < 600; ++i) {
    state = runtime::HookBudget();
    if (state.checks >= 3 && !runtime::FunctionsOffBy(runtime::SwitchedBy::kBudget).empty()) break;
    usleep(100000);
  }
  stop = true;
  busy.join();
  ASSERT_GT(loops.load(), 0u);
  EXPECT_EQ(state.percent, 1);
  EXPECT_GT(state.hook_ns, 0);
  EXPECT_GT(state.share, 1) << runtime::BudgetLine(state);
  const runtime::FunctionRow leaf = RowOf(Addr(&sites::Leaf));
  const runtime::FunctionRow kept = RowOf(Addr(&sites::Kept));
  ASSERT_NE(leaf.address, 0u);
  ASSERT_NE(kept.address, 0u);
  EXPECT_FALSE(leaf.hooked) << runtime::BudgetLine(runtime::HookBudget());
  EXPECT_EQ(leaf.off_by, "budget");
  EXPECT_FALSE(leaf.off_at.empty());
  EXPECT_TRUE(kept.hooked);
  EXPECT_TRUE(kept.pinned);
  EXPECT_GT(kept.hook_ms, 0) << "its calls x the measured cost of one";
  EXPECT_NE(runtime::UnhookedComment().find("sites::Leaf(int*) (budget, "), std::string::npos)
      << runtime::UnhookedComment();
  // The pinned function's calls are exact while the budget goes on; the unhooked one's are gone.
  int x = 0;
  const instrument::ThreadState* s = RunOnNewThread([&] { sites::Loop(5000, &x); });
  EXPECT_EQ(x, 10000);
  EXPECT_EQ(TotalCalls(s, Addr(&sites::Kept)), 5000u);
  EXPECT_EQ(TotalCalls(s, Addr(&sites::Leaf)), 0u);
  // A new budget starts from every function hooked.
  ASSERT_TRUE(runtime::SetHookBudget(0, &error)) << error;
  EXPECT_TRUE(runtime::FunctionsOffBy(runtime::SwitchedBy::kBudget).empty());
  EXPECT_TRUE(RowOf(Addr(&sites::Leaf)).hooked);
  s = RunOnNewThread([&] { sites::Loop(100, &x); });
  EXPECT_EQ(TotalCalls(s, Addr(&sites::Leaf)), 100u);
}

TEST_F(BudgetTest, ABudgetOutsideZeroToHundredIsRefused) {
  std::string error;
  EXPECT_FALSE(runtime::SetHookBudget(101, &error));
  EXPECT_NE(error.find("0 to 100"), std::string::npos) << error;
  EXPECT_FALSE(runtime::SetHookBudget(-1, &error));
  EXPECT_EQ(runtime::HookBudget().percent, 0);
}

TEST_F(BudgetTest, AUserUnhookEndsThePin) {
  std::string error;
  size_t changed = 0;
  ASSERT_TRUE(runtime::SwitchFunctions("^sites::Kept", true, &changed, &error)) << error;
  EXPECT_TRUE(runtime::FunctionPinned(Addr(&sites::Kept)));
  ASSERT_TRUE(runtime::SwitchFunctions("^sites::Kept", false, &changed, &error)) << error;
  EXPECT_FALSE(runtime::FunctionPinned(Addr(&sites::Kept)));
  const runtime::FunctionRow kept = RowOf(Addr(&sites::Kept));
  ASSERT_NE(kept.address, 0u);
  EXPECT_FALSE(kept.hooked);
  EXPECT_EQ(kept.off_by, "user");
}

}  // namespace
}  // namespace hookprof
