#include "tests/calling_convention.h"

#include <stdarg.h>

namespace calling_convention {

// Weights no two arguments share, so an argument swapped or clobbered changes the result.
double Mix8(double a, double b, double c, double d, double e, double f, double g, double h) {
  return a + 2 * b + 3 * c + 5 * d + 7 * e + 11 * f + 13 * g + 17 * h;
}

int64_t Mix6(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f) {
  return a + 2 * b + 3 * c + 5 * d + 7 * e + 11 * f;
}

double MixAll(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f, double g, double h,
              double i, double j, double k, double l, double m, double n, int64_t o, double p) {
  return static_cast<double>(Mix6(a, b, c, d, e, f)) + 19 * Mix8(g, h, i, j, k, l, m, n) +
         23 * static_cast<double>(o) + 29 * p;
}

long double Third(long double x) { return x / 3; }

Pair Swap(int64_t low, int64_t high) { return Pair{high, low}; }

Vec Turn(Vec v) { return Vec{-v.y, v.x}; }

double SumDoubles(int n, ...) {
  va_list args;
  va_start(args, n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += va_arg(args, double) * (i + 1);
  va_end(args);
  return sum;
}

int64_t Dispatch(Six f, int64_t x) { return f(x, x + 1, x + 2, x + 3, x + 4, x + 5); }

}  // namespace calling_convention
