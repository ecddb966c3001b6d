// Code with known branches, built with sanitizer coverage whatever the build config.
#ifndef HOOKPROF_TESTS_COVERAGE_TARGET_H_
#define HOOKPROF_TESTS_COVERAGE_TARGET_H_

namespace coverage_target {

int Positive(int x);
int Negative(int x);
// Calls Positive for x > 0, Negative otherwise.
int Classify(int x);
// Built with function-level coverage only (clang): the cheap mode.
int Leaf(int x);

}  // namespace coverage_target

#endif  // HOOKPROF_TESTS_COVERAGE_TARGET_H_
