// hookprof/testing.h on a known workload: exact calls by name, overload, template, pattern and
// address; exact allocations; contentions; nested recorders; threads; the failure messages
// (they name the call paths); and the problems that fail a test whatever it asserts.
#include <gtest/gtest-spi.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "hookprof/testing.h"
#include "instrument/mode.h"
#include "instrument/samplers/heap_sampler.h"
#include "instrument/state/thread_state.h"
#include "tests/profile_util.h"
#include "tests/recorder_workload.h"
#include "tests/workload.h"

namespace {

using hookprof::testing::kAllThreads;
using hookprof::testing::Recorder;
using ::testing::Le;

using hookprof::testing::Decode;

// The function of a sample's leaf (its location's innermost line).
std::string LeafName(const hookprof::pprof::Profile& p, const hookprof::pprof::Sample& s) {
  for (const auto& loc : p.location()) {
    if (loc.id() != s.location_id(0) || loc.line_size() == 0) continue;
    for (const auto& f : p.function()) {
      if (f.id() == loc.line(0).function_id()) return p.string_table(f.name());
    }
  }
  return "";
}

// The failures `body` reports, caught (a test of what a failing assertion prints).
template <typename Body>
std::vector<std::string> FailuresOf(Body body) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    body();
  }
  std::vector<std::string> out;
  for (int i = 0; i < results.size(); ++i) out.push_back(results.GetTestPartResult(i).message());
  return out;
}

TEST(Recorder, CountsExactCallsByNameOverloadTemplatePatternAndAddress) {
  Recorder r;
  for (int i = 0; i < 1000; ++i) acme::Mid(7);
  for (int i = 0; i < 500; ++i) acme::Leaf(1.5);
  acme::SumTo(300);
  EXPECT_EQ(r.Calls("acme::Mid"), 1000u);
  EXPECT_EQ(r.Calls("acme::Leaf"), 7500u);  // Both overloads.
  EXPECT_EQ(r.Calls("acme::Leaf(double)"), 500u);
  EXPECT_EQ(r.Calls("acme::Leaf(int)"), 7000u);
  EXPECT_EQ(r.Calls("acme::Max"), 300u);
  EXPECT_EQ(r.Calls("acme::Max<int>"), 300u);
  EXPECT_EQ(r.Calls("acme::Max<double>"), 0u);
  EXPECT_EQ(r.CallsMatching("^acme::(Mid|Leaf)\\("), 8500u);
  EXPECT_EQ(r.Calls(&acme::Mid), 1000u);
  EXPECT_EQ(r.Calls(static_cast<int (*)(double)>(&acme::Leaf)), 500u);
  EXPECT_THAT(r.Calls("acme::SumTo"), Le(1));
}

TEST(Recorder, CountsFromItsConstructionAndNestedRecordersCountTheirOwnSpan) {
  acme::Mid(5);
  Recorder outer;
  acme::Mid(3);
  {
    Recorder inner;
    acme::Mid(4);
    EXPECT_EQ(inner.Calls("acme::Leaf"), 4u);
    EXPECT_EQ(outer.Calls("acme::Leaf"), 7u);
  }
  acme::Mid(2);
  EXPECT_EQ(outer.Calls("acme::Leaf"), 9u);
  EXPECT_EQ(outer.Calls("acme::Mid"), 3u);
}

TEST(Recorder, StopEndsTheCountsThere) {
  Recorder r;
  acme::Mid(2);
  r.Stop();
  acme::Mid(3);
  EXPECT_EQ(r.Calls("acme::Leaf"), 2u);
}

TEST(Recorder, CountsOnlyItsOwnThreadUnlessAskedForAll) {
  Recorder mine;
  Recorder all(kAllThreads);
  acme::Mid(10);
  std::thread other([] { acme::Mid(100); });
  other.join();
  EXPECT_EQ(mine.Calls("acme::Leaf"), 10u);
  EXPECT_EQ(all.Calls("acme::Leaf"), 110u);
}

TEST(Recorder, TurnsRecordingOnInOffModeAndPutsItBack) {
  hookprof::instrument::SetMode(hookprof::instrument::kModeOff);
  {
    Recorder r;
    EXPECT_EQ(hookprof::instrument::GetMode(), hookprof::instrument::kModeProfile);
    acme::Mid(6);
    EXPECT_EQ(r.Calls("acme::Leaf"), 6u);
  }
  EXPECT_EQ(hookprof::instrument::GetMode(), hookprof::instrument::kModeOff);
  hookprof::instrument::SetMode(hookprof::instrument::kModeProfile);
}

TEST(Recorder, CountsEveryAllocationAndItsBytes) {
  if (!Recorder::CountsAllocations()) GTEST_SKIP() << "the sanitizer owns malloc";
  const int64_t rate = hookprof::instrument::HeapSampleRate();
  {
    Recorder r;
    acme::Allocate(1000, 1000);
    EXPECT_EQ(r.Allocations(), 1000u);
    EXPECT_EQ(r.AllocatedBytes(), 1000000u);
    Recorder quiet;
    acme::SumTo(1000);
    EXPECT_NO_ALLOCATIONS(quiet);
  }
  EXPECT_EQ(hookprof::instrument::HeapSampleRate(), rate);
}

TEST(Recorder, AnAllocationFailureNamesTheAllocatingPath) {
  if (!Recorder::CountsAllocations()) GTEST_SKIP() << "the sanitizer owns malloc";
  Recorder r;
  acme::Allocate(3, 100);
  r.Stop();
  const auto failures = FailuresOf([&] { EXPECT_NO_ALLOCATIONS(r); });
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0],
              ::testing::HasSubstr("3 allocations: 3 x via operator new <- acme::Allocate"));
  EXPECT_THAT(failures[0], ::testing::HasSubstr("acme::Allocate"));
}

TEST(Recorder, SaysWhenTheSanitizerOwnsMalloc) {
  if (Recorder::CountsAllocations()) GTEST_SKIP() << "allocations are counted";
  Recorder r;
  const auto failures = FailuresOf([&] { r.Allocations(); });
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0], ::testing::HasSubstr("sanitizer owns malloc"));
}

TEST(Recorder, CountsContendedLocks) {
  Recorder r;
  for (int i = 0; i < 3; ++i) workload::ContendMutex(5);
  EXPECT_EQ(r.Contentions(), 3u);
}

TEST(Recorder, AFailedCallCountNamesTheCallPathsResponsible) {
  Recorder r;
  acme::Mid(5);
  acme::Leaf(2);
  const auto failures = FailuresOf([&] { EXPECT_THAT(r.Calls("acme::Leaf"), Le(3)); });
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0], ::testing::HasSubstr("Expected: is <= 3"));
  EXPECT_THAT(failures[0], ::testing::HasSubstr("6 calls of acme::Leaf: 5 x via acme::Leaf <- "
                                                "acme::Mid"));
  EXPECT_THAT(failures[0], ::testing::HasSubstr(", 1 x via acme::Leaf"));
}

TEST(Recorder, AMisspeltNameFailsTheTestWhateverItAsserts) {
  Recorder r;
  acme::Mid(2);
  const auto failures = FailuresOf([&] { EXPECT_THAT(r.Calls("acme::Lef"), Le(3)); });
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0], ::testing::HasSubstr("no function of the program is named 'acme::Lef'"));
  const auto bad = FailuresOf([&] { r.CallsMatching("acme::(Leaf"); });
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_THAT(bad[0], ::testing::HasSubstr("bad pattern"));
}

TEST(Recorder, ProfileHoldsTheRecordedCallsAndIsWrittenForBazel) {
  Recorder r;
  acme::Mid(9);
  const hookprof::pprof::Profile p = Decode(r.Profile());
  int64_t leaf_calls = 0;
  int calls_index = -1;
  for (int i = 0; i < p.sample_type_size(); ++i) {
    if (p.string_table(p.sample_type(i).type()) == "calls") calls_index = i;
  }
  ASSERT_GE(calls_index, 0);
  for (const auto& s : p.sample()) {
    if (LeafName(p, s) == "acme::Leaf(int)") leaf_calls += s.value(calls_index);
  }
  EXPECT_EQ(leaf_calls, 9);
  const std::string path = r.WriteProfile("recorder_test.pb.gz");
  ASSERT_FALSE(path.empty());
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  EXPECT_EQ(Decode(bytes.str()).sample_type_size(), p.sample_type_size());
}

}  // namespace
