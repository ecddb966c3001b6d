#include "tests/processes_work.h"

namespace processes {

__attribute__((noinline)) int Work(int i) {
  asm volatile("" ::: "memory");
  return i * 3;
}

int WorkTimes(int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += Work(i);
  return sum;
}

void* NullForCrash() { return nullptr; }

}  // namespace processes
