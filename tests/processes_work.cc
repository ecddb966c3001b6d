#include "tests/processes_work.h"

namespace processes {

__attribute__((noinline)) int Work(int i) {
  asm volatile("" ::: "memory");
  return i * 3;
}

int WorkTimes(int n) {
  unsigned sum = 0;  // Wraps (millions of calls): unsigned, so that is defined.
  for (int i = 0; i < n; ++i) sum += static_cast<unsigned>(Work(i));
  return static_cast<int>(sum & 0x7fffffff);
}

void* NullForCrash() { return nullptr; }

}  // namespace processes
