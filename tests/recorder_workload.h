// Code under test for tests/recorder_test.cc: overloads, a template, allocations (built with
// the workload's hooks, as a user's code would be).
#ifndef HOOKPROF_TESTS_RECORDER_WORKLOAD_H_
#define HOOKPROF_TESTS_RECORDER_WORKLOAD_H_

#include <stddef.h>

namespace acme {

int Leaf(int x);
int Leaf(double x);
// noinline here: clang takes the attribute from the first declaration (the definition's alone
// let it inline Max into SumTo, where XRay then saw no call).
template <typename T>
__attribute__((noinline)) T Max(T a, T b);
extern template int Max<int>(int, int);
extern template double Max<double>(double, double);
// Calls Leaf(int) n times.
int Mid(int n);
// n allocations (at most kMaxBlocks) of `bytes` each, all freed.
constexpr int kMaxBlocks = 4096;
void Allocate(int n, size_t bytes);
// Sums without allocating.
int SumTo(int n);

}  // namespace acme

#endif  // HOOKPROF_TESTS_RECORDER_WORKLOAD_H_
