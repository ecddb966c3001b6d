// The benchmark's workloads. The same source is built plain and with -finstrument-functions
// (see BUILD), so every variant runs identical code apart from the hooks.
#ifndef HOOKPROF_TOOLS_BENCH_WORKLOADS_H_
#define HOOKPROF_TOOLS_BENCH_WORKLOADS_H_

#include <stdint.h>

namespace bench {

// Recursive Fibonacci: fib(n) makes 2 * F(n + 1) - 1 calls (fib(35): 29,860,703).
uint64_t Fib(int n);
uint64_t FibCalls(int n);

// A wide call tree: Top -> 10 Branch<a> -> 10 Mid<a, b> -> a chain of 18 Chain<i, d>: 1,911
// distinct functions, depth 21, 1,911 calls per Top().
uint64_t WideTree(int repeats);
inline constexpr uint64_t kWideCallsPerRepeat = 1911;

// Template-heavy C++: std::sort and std::map over std::string with user comparators and key
// builders. Calls depend on the library; the benchmark counts them in profile mode.
uint64_t Templates(int rounds);

}  // namespace bench

#endif  // HOOKPROF_TOOLS_BENCH_WORKLOADS_H_
