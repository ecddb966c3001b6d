#include "tests/coverage_target.h"

namespace coverage_target {

int Leaf(int x) { return x + 1; }

}  // namespace coverage_target
