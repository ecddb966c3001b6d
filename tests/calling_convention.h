// Instrumented functions whose arguments and results use every register of the x86-64 calling
// convention (integer, vector, x87, the vector count of variadic calls, a tail call through
// %r11): the hooks and XRay's trampolines must leave them all as they found them.
#ifndef HOOKPROF_TESTS_CALLING_CONVENTION_H_
#define HOOKPROF_TESTS_CALLING_CONVENTION_H_

#include <stdint.h>

namespace calling_convention {

struct Pair {  // Returned in %rax and %rdx.
  int64_t low, high;
};
struct Vec {  // Returned in %xmm0 and %xmm1.
  double x, y;
};
using Six = int64_t (*)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

double Mix8(double a, double b, double c, double d, double e, double f, double g, double h);
int64_t Mix6(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f);
// Mix6 on integers and Mix8 on doubles, all in one call (12 + 2 on the stack).
double MixAll(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f, double g, double h,
              double i, double j, double k, double l, double m, double n, int64_t o, double p);
long double Third(long double x);
Pair Swap(int64_t low, int64_t high);
Vec Turn(Vec v);
// Sums `n` doubles passed as variadic arguments.
double SumDoubles(int n, ...);
// Calls f(x, x + 1, ..., x + 5) as a tail call through a register (%r11 under clang).
int64_t Dispatch(Six f, int64_t x);

}  // namespace calling_convention

#endif  // HOOKPROF_TESTS_CALLING_CONVENTION_H_
