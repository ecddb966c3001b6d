// Calls every function of calling_convention.h `rounds` times and checks each result: a program
// for a build system of the user's (tests/preload_test.sh builds it with clang's XRay and runs it
// with hookprof preloaded). Exits 1 at the first wrong result.
#include <stdio.h>
#include <stdlib.h>

#include "tests/calling_convention.h"

namespace {

int64_t Weigh(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f) {
  return a * 1000000 + b * 100000 + c * 10000 + d * 1000 + e * 100 + f;
}

// Each call's arguments come from here: the compiler cannot fold or hoist the calls.
volatile int64_t g_base = 0;

}  // namespace

int main(int argc, char** argv) {
  namespace cc = calling_convention;
  const int rounds = argc > 1 ? atoi(argv[1]) : 1000;
  int wrong = 0;
  for (int r = 0; r < rounds; ++r) {
    const int64_t i = g_base + r;
    const double x = static_cast<double>(i) + 0.5;
    wrong += cc::Mix8(x, 2, 3, 4, 5, 6, 7, 8) != x + 4 + 9 + 20 + 35 + 66 + 91 + 136;
    wrong += cc::Mix6(i, 2, 3, 4, 5, 6) != i + 4 + 9 + 20 + 35 + 66;
    wrong += cc::Third(3.0L * i) != static_cast<long double>(i);
    const cc::Pair p = cc::Swap(i, -i);
    wrong += p.low != -i || p.high != i;
    const cc::Vec v = cc::Turn(cc::Vec{x, 2.5});
    wrong += v.x != -2.5 || v.y != x;
    wrong += cc::SumDoubles(9, x, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0) != x + 44;
    wrong += cc::Dispatch(&Weigh, i) != Weigh(i, i + 1, i + 2, i + 3, i + 4, i + 5);
  }
  printf("%d rounds, %d wrong results\n", rounds, wrong);
  return wrong == 0 ? 0 : 1;
}
