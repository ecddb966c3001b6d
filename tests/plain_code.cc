#include "tests/plain_code.h"

#include <time.h>

namespace plain_code {

uintptr_t g_inner_returns_to = 0;

namespace {

volatile uint64_t g_sink;

double ThreadCpuMillis() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) * 1e-6;
}

// Calls out first (not in tail position), so it has a frame of its own.
__attribute__((noinline)) void PlainInner(int millis) {
  g_inner_returns_to = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  const double end = ThreadCpuMillis() + millis;
  while (ThreadCpuMillis() < end) {
    for (int i = 0; i < 100000; ++i) g_sink = g_sink + i;
  }
}

__attribute__((noinline)) void Middle(int n, uint64_t (*callback)(int), int arg) {
  for (int i = 0; i < n; ++i) {
    g_sink = g_sink + callback(arg);
  }
}

}  // namespace

__attribute__((noinline)) void PlainOuter(int millis) {
  PlainInner(millis);
  g_sink = g_sink + 1;
}

uintptr_t MiddleEntry() { return reinterpret_cast<uintptr_t>(&Middle); }

__attribute__((noinline)) void ForEach(int n, uint64_t (*callback)(int), int arg) {
  Middle(n, callback, arg);
  g_sink = g_sink + 2;
}

}  // namespace plain_code
