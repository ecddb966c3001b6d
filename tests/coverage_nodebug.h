// Code built with sanitizer coverage and without debug information (-g0): no source lines.
#ifndef HOOKPROF_TESTS_COVERAGE_NODEBUG_H_
#define HOOKPROF_TESTS_COVERAGE_NODEBUG_H_

namespace coverage_nodebug {

// Returns x * 3 for odd x, x / 2 for even: two covered branches.
int Mix(int x);

}  // namespace coverage_nodebug

#endif  // HOOKPROF_TESTS_COVERAGE_NODEBUG_H_
