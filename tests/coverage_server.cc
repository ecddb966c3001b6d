// A program built with sanitizer coverage and hookprof's autostart: runs known branches, then
// serves until its standard input closes (tests/coverage_clients_test.sh drives it).
#include <stdio.h>

#include <string>

#include "tests/coverage_target.h"

int main() {
  for (int i = 0; i < 3; ++i) coverage_target::Classify(5);
  printf("ready\n");
  fflush(stdout);
  char line[256];
  while (fgets(line, sizeof(line), stdin) != nullptr) {
    // "negative N": runs the other branch N times.
    int n = 0;
    if (sscanf(line, "negative %d", &n) == 1) {
      for (int i = 0; i < n; ++i) coverage_target::Classify(-1);
    }
    printf("done\n");
    fflush(stdout);
  }
  return 0;
}
