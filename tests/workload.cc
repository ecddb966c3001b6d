#include "tests/workload.h"

#include <time.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace workload {
namespace {
volatile uint64_t g_sink = 0;

int64_t ThreadCpuNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}
}  // namespace

__attribute__((noinline)) void Leaf() { g_sink = g_sink + 1; }

__attribute__((noinline)) void Middle(int n) {
  for (int i = 0; i < n; ++i) Leaf();
}

__attribute__((noinline)) void Outer(int n, int m) {
  for (int i = 0; i < n; ++i) Middle(m);
}

__attribute__((noinline)) uint64_t Recurse(int depth) {
  if (depth <= 1) return 1;
  return Recurse(depth - 1) + g_sink;
}

__attribute__((noinline)) void ThrowThrough(int depth) {
  if (depth <= 1) throw std::runtime_error("thrown through instrumented frames");
  ThrowThrough(depth - 1);
  g_sink = g_sink + 1;  // Not a tail call.
}

__attribute__((noinline)) void CatchThenLeaf(int depth) {
  try {
    ThrowThrough(depth);
  } catch (const std::runtime_error&) {
  }
  Leaf();
}

__attribute__((always_inline)) inline void InlinedLeaf() { g_sink = g_sink + 2; }

__attribute__((noinline)) void CallsInlined(int n) {
  for (int i = 0; i < n; ++i) InlinedLeaf();
}

__attribute__((noinline)) uint64_t Spin(int millis) {
  const int64_t end = ThreadCpuNanos() + int64_t{millis} * 1000000;
  uint64_t x = 0;
  while (ThreadCpuNanos() < end) {
    for (int i = 0; i < 10000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  }
  g_sink = g_sink + x;
  return x;
}

__attribute__((noinline)) void WaitHere(const std::atomic<bool>* flag) {
  while (!flag->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

__attribute__((noinline)) void Park(const std::atomic<bool>* flag) {
  WaitHere(flag);
  g_sink = g_sink + 1;
}

__attribute__((noinline)) void SpawnFromHere(void (*body)()) {
  std::thread t([body] {
    pthread_setname_np(pthread_self(), "spawned");
    body();
  });
  t.join();
}

namespace {
void* g_leaked[100000];
int g_leaked_count = 0;
}  // namespace

__attribute__((noinline)) void LeakBytes(int count, size_t size) {
  for (int i = 0; i < count && g_leaked_count < 100000; ++i) {
    g_leaked[g_leaked_count] = malloc(size);
    memset(g_leaked[g_leaked_count], 1, size);
    ++g_leaked_count;
  }
}

__attribute__((noinline)) void FreeLeaked() {
  for (int i = 0; i < g_leaked_count; ++i) free(g_leaked[i]);
  g_leaked_count = 0;
}

std::vector<uintptr_t> Functions() {
  return {reinterpret_cast<uintptr_t>(&Leaf),          reinterpret_cast<uintptr_t>(&Middle),
          reinterpret_cast<uintptr_t>(&Outer),         reinterpret_cast<uintptr_t>(&Recurse),
          reinterpret_cast<uintptr_t>(&ThrowThrough),  reinterpret_cast<uintptr_t>(&CatchThenLeaf),
          reinterpret_cast<uintptr_t>(&Spin),          reinterpret_cast<uintptr_t>(&CallsInlined),
          reinterpret_cast<uintptr_t>(&Park),          reinterpret_cast<uintptr_t>(&WaitHere),
          reinterpret_cast<uintptr_t>(&SpawnFromHere), reinterpret_cast<uintptr_t>(&LeakBytes),
          reinterpret_cast<uintptr_t>(&FreeLeaked)};
}

}  // namespace workload
