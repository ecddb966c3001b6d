// Sanitizer coverage end to end: the callbacks' counts, the reports (text, lcov, pprof with
// source lines from addr2line), the HTTP endpoint and the cheap mode's calls/count.
#include "instrument/coverage/coverage.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "instrument/state/thread_state.h"
#include "runtime/reports/coverage_report.h"
#include "runtime/symbols/symbolizer.h"
#include "server/router.h"
#include "tests/coverage_nodebug.h"
#include "tests/coverage_target.h"
#include "tests/profile_util.h"

namespace hookprof {
namespace {

using instrument::CoverageCounts;
using runtime::CoverageView;

constexpr bool kClang =
#if defined(__clang__)
    true;
#else
    false;
#endif

// The compiler of this test is the compiler of the coverage target (one build config).
constexpr bool kHasPcTable = kClang;

CoverageCounts Now() {
  CoverageCounts c;
  instrument::CollectCoverage(&c);
  return c;
}

// Everything counted since `base`, as a view over the current symbols.
CoverageView Since(const CoverageCounts& base) {
  return CoverageView(runtime::CoverageDelta(base, Now()), runtime::Symbolizer::Current());
}

// Hits at the entry of the function named `name` (the entry block with a pc-table; the
// function's first covered address under GCC's trace-pc).
int64_t EntryHits(const CoverageView& view, const std::string& name) {
  int64_t hits = -1;
  for (const auto& p : view.points()) {
    if (p.fn == nullptr || p.fn->name != name) continue;
    if (p.entry || (!kHasPcTable && hits < 0)) hits = static_cast<int64_t>(p.hits);
  }
  return hits;
}

std::string SourcePath(const std::string& name) {
  const char* srcdir = getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/hookprof/tests/" + name;
}

// Line number of the line of coverage_target.cc holding `marker`.
int64_t LineOf(const std::string& marker) {
  std::ifstream in(SourcePath("coverage_target.cc"));
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find(marker) != std::string::npos) return n;
  }
  ADD_FAILURE() << "no line with " << marker;
  return 0;
}

TEST(CoverageTest, CountsEveryEntryExactlyWhenThreadsRunTheSameCode) {
  const CoverageCounts base = Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 25000; ++i) coverage_target::Classify(i % 2 == 0 ? 1 : -1);
    });
  }
  for (auto& t : threads) t.join();
  const CoverageView view = Since(base);
  EXPECT_EQ(EntryHits(view, "coverage_target::Classify(int)"), 100000);
  EXPECT_EQ(EntryHits(view, "coverage_target::Positive(int)"), 50000);
  EXPECT_EQ(EntryHits(view, "coverage_target::Negative(int)"), 50000);
  EXPECT_EQ(view.dropped(), 0u);
}

TEST(CoverageTest, TakenBranchIsCoveredAndTheOtherIsNot) {
  instrument::CoverageCounts base = Now();
  for (int i = 0; i < 3; ++i) coverage_target::Classify(5);
  CoverageView view = Since(base);
  std::string error;
  ASSERT_TRUE(view.ResolveLines(&error)) << error;
  const int64_t taken = LineOf("BRANCH_TAKEN"), not_taken = LineOf("BRANCH_NOT_TAKEN");
  int64_t taken_hits = -1, not_taken_hits = -1;
  bool not_taken_seen = false;  // With a pc-table only.
  for (const auto& p : view.points()) {
    if (p.line.file.find("coverage_target.cc") == std::string::npos) continue;
    if (p.line.line == taken) taken_hits = std::max<int64_t>(taken_hits, p.hits);
    if (p.line.line == not_taken) {
      not_taken_seen = true;
      not_taken_hits = std::max<int64_t>(not_taken_hits, p.hits);
    }
  }
  EXPECT_EQ(taken_hits, 3);
  if (kHasPcTable) {
    // The pc-table names the edge that never ran.
    EXPECT_TRUE(not_taken_seen);
    EXPECT_EQ(not_taken_hits, 0);
    EXPECT_EQ(EntryHits(view, "coverage_target::Negative(int)"), 0);
  } else {
    // GCC's trace-pc reports only what ran (its join block shares the untaken line's number,
    // so the line is no witness here; the untaken callee is).
    EXPECT_EQ(EntryHits(view, "coverage_target::Negative(int)"), -1);
  }
  EXPECT_EQ(EntryHits(view, "coverage_target::Positive(int)"), 3);
}

TEST(CoverageTest, LcovTracefileHasFunctionAndLineRecordsForTheSource) {
  const CoverageCounts base = Now();
  coverage_target::Classify(7);
  coverage_target::Classify(8);
  CoverageView view = Since(base);
  std::string error;
  ASSERT_TRUE(view.ResolveLines(&error)) << error;
  const std::string lcov = runtime::CoverageLcov(view);
  const size_t sf = lcov.find("coverage_target.cc\n");
  ASSERT_NE(sf, std::string::npos) << lcov;
  const std::string record = lcov.substr(sf, lcov.find("end_of_record", sf) - sf);
  EXPECT_NE(record.find("FNDA:2,_ZN15coverage_target8PositiveEi\n"), std::string::npos) << record;
  EXPECT_NE(record.find("FNDA:2,_ZN15coverage_target8ClassifyEi\n"), std::string::npos) << record;
  EXPECT_NE(record.find("DA:" + std::to_string(LineOf("BRANCH_TAKEN")) + ",2\n"), std::string::npos)
      << record;
  if (kHasPcTable) {
    EXPECT_NE(record.find("FNDA:0,_ZN15coverage_target8NegativeEi\n"), std::string::npos);
    EXPECT_NE(record.find("DA:" + std::to_string(LineOf("BRANCH_NOT_TAKEN")) + ",0\n"),
              std::string::npos)
        << record;
  }
}

TEST(CoverageTest, TextReportGivesCoveredOverTotalEdgesPerFunction) {
  const CoverageCounts base = Now();
  coverage_target::Classify(1);
  const std::string text = runtime::CoverageText(Since(base), "since start");
  if (kHasPcTable) {
    // Negative never ran in this window: 0 of its edges; Classify: some, not all.
    EXPECT_NE(text.find("0/1            0  coverage_target::Negative(int)"), std::string::npos)
        << text;
    EXPECT_NE(text.find("edges covered"), std::string::npos) << text;
  } else {
    EXPECT_NE(text.find("totals unknown"), std::string::npos) << text;
  }
  EXPECT_NE(text.find("coverage_target::Positive(int)"), std::string::npos) << text;
}

TEST(CoverageTest, CountsEdgesOfALibraryLoadedAtRunTime) {
  void* lib = dlopen(SourcePath("libcoverage_plugin.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto branch = reinterpret_cast<int (*)(int)>(dlsym(lib, "coverage_plugin_branch"));
  ASSERT_NE(branch, nullptr);
  const CoverageCounts base = Now();
  for (int i = 0; i < 10; ++i) branch(i);
  const CoverageView view = Since(base);
  EXPECT_EQ(EntryHits(view, "coverage_plugin_branch"), 10);
  dlclose(lib);
  // Its counts stay readable after the library is gone.
  const CoverageCounts after = Now();
  EXPECT_GE(after.edge_hits.size(), base.edge_hits.size());
}

// Entry hits of `function` in the text report; 0 when it is not listed (GCC lists only what ran).
int64_t TextEntryHits(const std::string& text, const std::string& function) {
  const size_t at = text.find("  " + function + "\n");
  if (at == std::string::npos) return 0;
  const size_t start = text.rfind(' ', at - 1);
  return std::stoll(text.substr(start + 1, at - start - 1));
}

class CoverageEndpointTest : public ::testing::Test {
 protected:
  CoverageEndpointTest() {
    env_.context_path = "/ctx";
    env_.wait = [this](int64_t nanos) {
      if (during_window_) during_window_();
      return true;
    };
  }
  server::Response Send(const std::string& method, const std::string& target) {
    server::Request r{method, target, "", "Go-http-client/1.1", ""};
    instrument::ScopedGuard guard;
    return server::HandleRequest(r, env_);
  }
  server::Env env_;
  std::function<void()> during_window_;
};

TEST_F(CoverageEndpointTest, ResetZeroesAndTheWindowHoldsOnlyWhatRanInIt) {
  coverage_target::Classify(1);
  ASSERT_EQ(Send("POST", "/ctx/debug/coverage?reset=1").status, 200);
  std::string text = Send("GET", "/ctx/debug/coverage?format=text").body;
  EXPECT_NE(text.find("since the reset at"), std::string::npos) << text;
  EXPECT_EQ(TextEntryHits(text, "coverage_target::Positive(int)"), 0)
      << "nothing ran since the reset, yet:\n"
      << text;
  coverage_target::Classify(1);
  text = Send("GET", "/ctx/debug/coverage?format=text").body;
  EXPECT_EQ(TextEntryHits(text, "coverage_target::Positive(int)"), 1) << text;

  during_window_ = [] { coverage_target::Classify(-1); };
  text = Send("GET", "/ctx/debug/coverage?format=text&seconds=1").body;
  EXPECT_NE(text.find("the last 1 s"), std::string::npos) << text;
  EXPECT_EQ(TextEntryHits(text, "coverage_target::Negative(int)"), 1) << text;
  EXPECT_EQ(TextEntryHits(text, "coverage_target::Positive(int)"), 0) << text;
}

TEST_F(CoverageEndpointTest, ServesAPprofProfileOfHitsWithSourceLines) {
  coverage_target::Classify(3);
  const server::Response r = Send("GET", "/ctx/debug/coverage");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/octet-stream");
  const auto p = testing::Decode(r.body);
  ASSERT_EQ(p.sample_type_size(), 1);
  EXPECT_EQ(p.string_table(p.sample_type(0).type()), "hits");
  EXPECT_EQ(p.string_table(p.sample_type(0).unit()), "count");
  bool found = false;
  for (const auto& loc : p.location()) {
    for (const auto& line : loc.line()) {
      const auto& fn = p.function(line.function_id() - 1);
      if (p.string_table(fn.name()) == "coverage_target::Positive(int)") {
        found = true;
        EXPECT_GT(line.line(), 0);
        EXPECT_NE(p.string_table(fn.filename()).find("coverage_target.cc"), std::string::npos);
        EXPECT_NE(loc.address(), 0u);
        EXPECT_NE(loc.mapping_id(), 0u);
      }
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(CoverageEndpointTest, BadRequestsGetOneLineReasons) {
  EXPECT_EQ(Send("GET", "/ctx/debug/coverage?format=xml").status, 400);
  EXPECT_EQ(Send("GET", "/ctx/debug/coverage?seconds=-1").status, 400);
  EXPECT_EQ(Send("GET", "/ctx/debug/coverage?colour=red").status, 400);
  EXPECT_EQ(Send("GET", "/ctx/debug/coverage?reset=1").status, 405);
  EXPECT_EQ(Send("POST", "/ctx/debug/coverage").status, 400);
  EXPECT_EQ(Send("POST", "/ctx/debug/coverage?reset=2").status, 400);
  EXPECT_EQ(Send("PUT", "/ctx/debug/coverage").status, 405);
  const server::Response r = Send("GET", "/ctx/debug/coverage?format=xml");
  EXPECT_EQ(r.body.find('\n'), r.body.size() - 1) << r.body;
}

TEST_F(CoverageEndpointTest, CheapModeGivesExactCallsInTheCpuProfile) {
  if (!kHasPcTable) GTEST_SKIP() << "function-level coverage needs clang (func,trace-pc-guard)";
  during_window_ = [] {
    for (int i = 0; i < 1234; ++i) coverage_target::Leaf(i);
  };
  const server::Response r = Send("GET", "/ctx/debug/pprof/profile?seconds=1");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto p = testing::Decode(r.body);
  int calls_index = -1;
  for (int i = 0; i < p.sample_type_size(); ++i) {
    if (p.string_table(p.sample_type(i).type()) == "calls") calls_index = i;
  }
  ASSERT_GE(calls_index, 0);
  int64_t leaf_calls = 0;
  for (const auto& s : p.sample()) {
    const auto& loc = p.location(s.location_id(0) - 1);
    const auto& fn = p.function(loc.line(0).function_id() - 1);
    if (p.string_table(fn.name()) == "coverage_target::Leaf(int)") {
      leaf_calls += s.value(calls_index);
    }
  }
  EXPECT_EQ(leaf_calls, 1234);
  bool said = false;
  for (int64_t c : p.comment())
    said |= p.string_table(c).find("sanitizer-coverage") != std::string::npos;
  EXPECT_TRUE(said);
}

// Views made of given counts, not of a delta: other tests' threads may still run covered code.
TEST(CoverageLcovTest, SaysWhyWhenNothingIsCovered) {
  CoverageView view(CoverageCounts(), runtime::Symbolizer::Current());
  std::string error;
  ASSERT_TRUE(view.ResolveLines(&error)) << error;
  EXPECT_NE(runtime::WhyNoLcov(view).find("nothing covered"), std::string::npos);
}

TEST(CoverageLcovTest, SaysWhyWhenNoCoveredAddressHasALine) {
  EXPECT_EQ(coverage_nodebug::Mix(3) + coverage_nodebug::Mix(4), 11);
  // A covered address inside Mix, built with -g0: the binary has line tables, that code none.
  CoverageCounts counts;
  counts.pc_hits[reinterpret_cast<uintptr_t>(&coverage_nodebug::Mix) + 4] = 2;
  CoverageView view(counts, runtime::Symbolizer::Current());
  std::string error;
  ASSERT_TRUE(view.ResolveLines(&error)) << error;
  const std::string why = runtime::WhyNoLcov(view);
  EXPECT_NE(why.find("build it with -g"), std::string::npos) << why;
  // Code built with -g has its lines: the same view over one of its addresses gives lcov.
  counts.pc_hits.clear();
  counts.pc_hits[reinterpret_cast<uintptr_t>(&coverage_target::Classify) + 4] = 1;
  CoverageView with_lines(counts, runtime::Symbolizer::Current());
  ASSERT_TRUE(with_lines.ResolveLines(&error)) << error;
  EXPECT_EQ(runtime::WhyNoLcov(with_lines), "");
}

}  // namespace
}  // namespace hookprof
