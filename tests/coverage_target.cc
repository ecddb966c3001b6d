#include "tests/coverage_target.h"

namespace coverage_target {

int Positive(int x) { return x * 2; }

int Negative(int x) { return -x; }

int Classify(int x) {
  if (x > 0) {
    return Positive(x);  // BRANCH_TAKEN
  }
  return Negative(x);  // BRANCH_NOT_TAKEN
}

}  // namespace coverage_target
