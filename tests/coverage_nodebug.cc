#include "tests/coverage_nodebug.h"

namespace coverage_nodebug {

int Mix(int x) {
  if (x % 2 != 0) return x * 3;
  return x / 2;
}

}  // namespace coverage_nodebug
