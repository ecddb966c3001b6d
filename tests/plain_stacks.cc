// A program built as its users build it, with no hook at all (-O2 -g -fno-omit-frame-pointer),
// run with libhookprof preloaded by tests/plain_stacks_test.sh: its CPU, heap, mutex and
// threadcreate profiles must still show who called whom (stack walks), and a thread that
// keeps garbage in %rbp must not crash the walks. `plain_stacks SECONDS` runs for that long.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

namespace plain {
namespace {

volatile uint64_t g_sink;
volatile int g_stop;
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
void* volatile g_kept;  // volatile: the leak is not optimised away.

// Each calls the next and does work after it, so no call is a tail call (which a frame-pointer
// walk, like gperftools', would show as its caller's). SpinLeaf calls out once, so that it has a
// frame: GCC gives none to a function that calls nothing and needs no stack, even with
// -fno-omit-frame-pointer (FramelessLeaf below).
__attribute__((noinline)) void Bump() { g_sink = g_sink + 7; }
__attribute__((noinline)) void SpinLeaf() {
  Bump();  // Not last: a call in tail position is a jump, and the frame goes with it.
  for (int i = 0; i < 1000000; ++i) g_sink = g_sink + i;
}
__attribute__((noinline)) void SpinMid() {
  SpinLeaf();
  g_sink = g_sink + 1;
}
__attribute__((noinline)) void SpinTop() {
  SpinMid();
  g_sink = g_sink + 2;
}

// A function without a frame (it calls nothing) and libc's getppid (none either): their callers
// come from the modules' frame rules, not from %rbp, which still holds the caller's caller's.
__attribute__((noinline)) void FramelessLeaf() {
  for (int i = 0; i < 1000000; ++i) g_sink = g_sink + i;
}
__attribute__((noinline)) void FramelessCaller() {
  FramelessLeaf();
  g_sink = g_sink + 8;
}
__attribute__((noinline)) void SyscallCaller() {
  for (int i = 0; i < 20000; ++i) g_sink = g_sink + getppid();
}

__attribute__((noinline)) void LeakInner() {
  g_kept = malloc(1000000);
  memset(g_kept, 1, 1000000);
}
__attribute__((noinline)) void LeakOuter() {
  LeakInner();
  g_sink = g_sink + 3;
}

__attribute__((noinline)) void LockInner() {
  pthread_mutex_lock(&g_lock);
  usleep(2000);
  pthread_mutex_unlock(&g_lock);
  g_sink = g_sink + 4;
}
__attribute__((noinline)) void LockOuter() {
  LockInner();
  g_sink = g_sink + 5;
}

// Spins with a different garbage value in %rbp each round (zero, small numbers, addresses below
// the stack pointer, kernel addresses, odd values), so that CPU samples interrupt it there.
__attribute__((noinline)) void ClobberFramePointer() {
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int round = 0; round < 2000; ++round) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uintptr_t sp;
    asm volatile("mov %%rsp, %0" : "=r"(sp));
    const uintptr_t garbage[] = {0, 1, x, sp - 64, sp - 8, sp + 3, 0xffff800000001000ull, x | 1};
    uint64_t n = 20000;
    // Below the red zone, then %rbp saved, replaced, spun on and restored.
    asm volatile(
        "lea -128(%%rsp), %%rsp\n\t"
        "push %%rbp\n\t"
        "mov %1, %%rbp\n\t"
        "1: dec %0\n\t"
        "jnz 1b\n\t"
        "pop %%rbp\n\t"
        "lea 128(%%rsp), %%rsp\n\t"
        : "+r"(n)
        : "r"(garbage[round % 8])
        : "memory", "cc");
  }
}

double Seconds(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

void* Spinner(void*) {
  while (!g_stop) SpinTop();
  return nullptr;
}

void* Clobberer(void*) {
  while (!g_stop) ClobberFramePointer();
  fprintf(stderr, "clobber thread CPU: %.2f s\n", Seconds(CLOCK_THREAD_CPUTIME_ID));
  return nullptr;
}

void* FramelessSpinner(void*) {
  while (!g_stop) FramelessCaller();
  return nullptr;
}

void* SyscallSpinner(void*) {
  while (!g_stop) SyscallCaller();
  return nullptr;
}

void* Locker(void*) {
  while (!g_stop) LockOuter();
  return nullptr;
}

__attribute__((noinline)) void StartThreads(pthread_t* threads) {
  pthread_create(&threads[0], nullptr, Spinner, nullptr);
  pthread_create(&threads[1], nullptr, Clobberer, nullptr);
  pthread_create(&threads[2], nullptr, Locker, nullptr);
  pthread_create(&threads[3], nullptr, Locker, nullptr);
  pthread_create(&threads[4], nullptr, FramelessSpinner, nullptr);
  pthread_create(&threads[5], nullptr, SyscallSpinner, nullptr);
  g_sink = g_sink + 6;
}

}  // namespace
}  // namespace plain

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 5;
  plain::LeakOuter();
  pthread_t threads[6];
  plain::StartThreads(threads);
  printf("ready\n");
  fflush(stdout);
  // At least `seconds`, then until stdin ends: the test says when it has looked, however long
  // a busy machine made it take.
  const double end = plain::Seconds(CLOCK_MONOTONIC) + seconds;
  while (plain::Seconds(CLOCK_MONOTONIC) < end) usleep(10000);
  while (getchar() != EOF) {
  }
  plain::g_stop = 1;
  for (pthread_t t : threads) pthread_join(t, nullptr);
  printf("done\n");
  return 0;
}
