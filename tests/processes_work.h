// The instrumented part of tests/processes.cc: calls to count, and nothing of the C++ library
// (clang's -finstrument-functions hooks library functions that libstdc++ 12 only inlines).
#ifndef HOOKPROF_TESTS_PROCESSES_WORK_H_
#define HOOKPROF_TESTS_PROCESSES_WORK_H_

namespace processes {

int Work(int i);
// Calls Work n times.
int WorkTimes(int n);
// nullptr, from another translation unit: a store through it is a real fault, not one the
// compiler saw coming (it would emit a trap instruction instead).
void* NullForCrash();

}  // namespace processes

#endif  // HOOKPROF_TESTS_PROCESSES_WORK_H_
