// A program whose whole-run profile (HOOKPROF_PROFILE_OUT) tests/diff_test.sh compares:
// `diff_workload N` calls acme::Mid(N) 100 times (so acme::Leaf(int) 100 * N times) and
// acme::Leaf(double) 50 times.
#include <stdlib.h>

#include "tests/recorder_workload.h"

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 5;
  int sum = 0;
  for (int i = 0; i < 100; ++i) sum += acme::Mid(n);
  for (int i = 0; i < 50; ++i) sum += acme::Leaf(0.5);
  return sum == 0 ? 1 : 0;
}
