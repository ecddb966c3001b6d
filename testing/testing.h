// GoogleTest assertions on exact counts (hookprof/recorder.h): deterministic facts about the
// code under test, so they do not flake on a busy machine as timed assertions do.
//
//   #include "hookprof/testing.h"
//   TEST(Store, GetLooksUpOnce) {
//     Store store;
//     hookprof::testing::Recorder r;
//     store.Get("k");
//     EXPECT_THAT(r.Calls("db::Lookup"), testing::Le(1));
//     EXPECT_NO_ALLOCATIONS(r);
//   }
//
// A failure names the call paths responsible:
//   Expected: is <= 1
//     Actual: 3 calls of db::Lookup: 2 x via db::Lookup <- Store::Get <- ..., 1 x via ...
// A count that cannot be trusted (a misspelt function name, a program built without hooks, a
// sanitizer build asked for allocations) fails the test with the reason, whatever the assertion.
#ifndef HOOKPROF_TESTING_TESTING_H_
#define HOOKPROF_TESTING_TESTING_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "hookprof/recorder.h"

namespace hookprof {
namespace testing {

inline void FailTest(const std::string& problem) { ADD_FAILURE() << "hookprof: " << problem; }
inline const bool kProblemsFailTests = (SetProblemHandler(&FailTest), true);

// How GoogleTest prints a count: with the call paths that make it up.
inline void PrintTo(const Count& count, std::ostream* os) { *os << count.Describe(); }

}  // namespace testing
}  // namespace hookprof

// The code since `recorder` was made allocated nothing (on its threads); a failure lists the
// allocating call paths.
#define EXPECT_NO_ALLOCATIONS(recorder) \
  EXPECT_THAT((recorder).Allocations(), ::testing::Eq(uint64_t{0}))
#define ASSERT_NO_ALLOCATIONS(recorder) \
  ASSERT_THAT((recorder).Allocations(), ::testing::Eq(uint64_t{0}))

#endif  // HOOKPROF_TESTING_TESTING_H_
