#include "tests/workload.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace workload {
namespace {
volatile uint64_t g_sink = 0;
thread_local volatile uint64_t t_ticks = 0;
// For the functions that tests run on several threads at once (Leaf, Spin): relaxed atomics,
// without a lock prefix, so that ThreadSanitizer sees no race and the cost stays a plain add.
// A macro: a function would have hooks of its own (GCC hooks inlined copies too).
uint64_t g_shared_sink = 0;
#define ADD_TO_SHARED_SINK(v)                                                               \
  __atomic_store_n(&g_shared_sink, __atomic_load_n(&g_shared_sink, __ATOMIC_RELAXED) + (v), \
                   __ATOMIC_RELAXED)

int64_t ThreadCpuNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}
}  // namespace

__attribute__((noinline)) void Leaf() { ADD_TO_SHARED_SINK(1); }

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

__attribute__((noinline)) void CallsOut(void (*f)(int), int arg) {
  f(arg);
  g_sink = g_sink + 3;  // Not a tail call: this frame stays while f runs.
}

__attribute__((noinline)) uint64_t Spin(int millis) {
  const int64_t end = ThreadCpuNanos() + int64_t{millis} * 1000000;
  uint64_t x = 0;
  while (ThreadCpuNanos() < end) {
    for (int i = 0; i < 10000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  }
  ADD_TO_SHARED_SINK(x);
  return x;
}

// Source-level tests: the marker comments name the lines the tests look for (by grep).
__attribute__((noinline)) uint64_t TwoLoops(int millis) {
  uint64_t x = 1, y = 1;
  const int64_t end = ThreadCpuNanos() + int64_t{millis} * 1000000;
  while (ThreadCpuNanos() < end) {
    for (int i = 0; i < 30000; ++i) x = x * 6364136223846793005ull + (x >> 7);  // LOOP-A
    for (int i = 0; i < 10000; ++i) y = y * 2862933555777941757ull + (y >> 5);  // LOOP-B
  }
  g_sink = g_sink + x + y;
  return x + y;
}

__attribute__((noinline)) void SpinTwice(int first_millis, int second_millis) {
  Spin(first_millis);   // CALL-FIRST
  Spin(second_millis);  // CALL-SECOND
  g_sink = g_sink + 1;  // Not a tail call.
}

__attribute__((noinline)) void WriteLoop(int millis) {
  const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const int64_t end = ThreadCpuNanos() + int64_t{millis} * 1000000;
  char byte = 0;
  while (ThreadCpuNanos() < end) {
    for (int i = 0; i < 200; ++i) g_sink = g_sink + write(fd, &byte, 1);
  }
  close(fd);
}

namespace {
// Inlined and without hooks of its own: its time shows as an inlined frame of its caller.
__attribute__((always_inline, no_instrument_function)) inline uint64_t MixInline(uint64_t x) {
  for (int i = 0; i < 10000; ++i) x = x * 6364136223846793005ull + (x >> 3);  // INLINED-LOOP
  return x;
}
}  // namespace

__attribute__((noinline)) uint64_t SpinInlined(int millis) {
  uint64_t x = 1;
  const int64_t end = ThreadCpuNanos() + int64_t{millis} * 1000000;
  while (ThreadCpuNanos() < end) x = MixInline(x);
  g_sink = g_sink + x;
  return x;
}

// Timing workloads.
__attribute__((noinline)) void Nap(int millis) {
  // libc's, not std::this_thread::sleep_for, whose header code would get hooks of its own here.
  struct timespec ts = {millis / 1000, (millis % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

__attribute__((noinline)) void NapFiveTimes(int millis) {
  for (int i = 0; i < 5; ++i) Nap(millis);
}

__attribute__((noinline)) int64_t ReadPipeAfter(int millis) {
  int fds[2];
  if (pipe(fds) != 0) abort();
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(millis));
    char c = 1;
    if (write(fds[1], &c, 1) != 1) abort();
  });
  char c = 0;
  const int64_t n = read(fds[0], &c, 1);  // Blocks: off-CPU.
  writer.join();
  close(fds[0]);
  close(fds[1]);
  return n;
}

__attribute__((noinline)) uint64_t NapRecursively(int depth, int millis) {
  if (depth <= 1) {
    Nap(millis);
    return 1;
  }
  return NapRecursively(depth - 1, millis) + g_sink;
}

// Leaf's twin for workloads that run on several threads at once (no shared sink to race on).
__attribute__((noinline)) void Tick() { t_ticks = t_ticks + 1; }

__attribute__((noinline)) void SlowAmongFast(int slow_calls, int fast_per_slow) {
  for (int i = 0; i < slow_calls; ++i) {
    for (int j = 0; j < fast_per_slow; ++j) Tick();
    Nap(2);
  }
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

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepMs(int millis) { std::this_thread::sleep_for(std::chrono::milliseconds(millis)); }

void AwaitFlag(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

}  // namespace

__attribute__((noinline)) int64_t WaitForLock(std::mutex* m) {
  const int64_t start = NowNs();
  m->lock();
  const int64_t waited = NowNs() - start;
  m->unlock();
  return waited;
}

__attribute__((noinline)) int64_t ContendMutex(int millis) {
  std::mutex m;
  std::atomic<bool> held{false};
  std::thread holder([&] {
    m.lock();
    held = true;
    SleepMs(millis);
    // Held until the waiter blocks on it (glibc marks a mutex with waiters 2), however late the
    // scheduler lets the waiter run: every call is one contended acquisition. At most 10 s.
    int* word = &m.native_handle()->__data.__lock;
    for (int i = 0; i < 100000 && __atomic_load_n(word, __ATOMIC_ACQUIRE) != 2; ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    m.unlock();
  });
  AwaitFlag(held);
  const int64_t waited = WaitForLock(&m);
  holder.join();
  return waited;
}

__attribute__((noinline)) int64_t ReadWhenFree(std::shared_mutex* m) {
  const int64_t start = NowNs();
  m->lock_shared();
  const int64_t waited = NowNs() - start;
  m->unlock_shared();
  return waited;
}

__attribute__((noinline)) int64_t ContendSharedMutex(int millis) {
  std::shared_mutex m;
  std::atomic<bool> held{false};
  std::thread holder([&] {
    m.lock();
    held = true;
    SleepMs(millis);
    m.unlock();
  });
  AwaitFlag(held);
  const int64_t waited = ReadWhenFree(&m);
  holder.join();
  return waited;
}

__attribute__((noinline)) void HoldAbslLock(void* mu, std::atomic<bool>* held, int millis) {
  auto* m = static_cast<absl::Mutex*>(mu);
  m->Lock();
  *held = true;
  SleepMs(millis);
  m->Unlock();
}

__attribute__((noinline)) int64_t WaitForAbslLock(absl::Mutex* m) {
  const int64_t start = NowNs();
  m->Lock();
  const int64_t waited = NowNs() - start;
  m->Unlock();
  return waited;
}

__attribute__((noinline)) int64_t ContendAbslMutex(int millis) {
  absl::Mutex m;
  std::atomic<bool> held{false};
  std::thread holder([&] { HoldAbslLock(&m, &held, millis); });
  AwaitFlag(held);
  const int64_t waited = WaitForAbslLock(&m);
  holder.join();
  return waited;
}

__attribute__((noinline)) int64_t WaitOnCondition(std::mutex* m, std::condition_variable* cv,
                                                  const bool* ready) {
  const int64_t start = NowNs();
  std::unique_lock<std::mutex> lock(*m);
  while (!*ready) cv->wait(lock);
  return NowNs() - start;
}

__attribute__((noinline)) int64_t WaitForSignal(int millis) {
  std::mutex m;
  std::condition_variable cv;
  bool ready = false;
  std::thread signaller([&] {
    SleepMs(millis);
    std::lock_guard<std::mutex> lock(m);
    ready = true;
    cv.notify_one();
  });
  const int64_t waited = WaitOnCondition(&m, &cv, &ready);
  signaller.join();
  return waited;
}

// The flag is atomic only because Debian's abseil is not built with ThreadSanitizer's
// annotations, so TSan builds cannot see absl::Mutex order the accesses.
__attribute__((noinline)) int64_t WaitOnAbslCondVar(absl::Mutex* m, absl::CondVar* cv,
                                                    const std::atomic<bool>* ready) {
  const int64_t start = NowNs();
  m->Lock();
  while (!*ready) cv->Wait(m);
  m->Unlock();
  return NowNs() - start;
}

__attribute__((noinline)) int64_t WaitForAbslSignal(int millis) {
  absl::Mutex m;
  absl::CondVar cv;
  std::atomic<bool> ready{false};
  std::thread signaller([&] {
    SleepMs(millis);
    m.Lock();
    ready = true;
    cv.Signal();
    m.Unlock();
  });
  const int64_t waited = WaitOnAbslCondVar(&m, &cv, &ready);
  signaller.join();
  return waited;
}

__attribute__((noinline)) int64_t JoinHere(std::thread* t) {
  const int64_t start = NowNs();
  t->join();
  return NowNs() - start;
}

__attribute__((noinline)) int64_t JoinSleeper(int millis) {
  std::thread sleeper([millis] { SleepMs(millis); });
  return JoinHere(&sleeper);
}

__attribute__((noinline)) void LockAlone(int n) {
  std::mutex m;
  for (int i = 0; i < n; ++i) {
    m.lock();
    g_sink = g_sink + 1;
    m.unlock();
  }
}

std::vector<uintptr_t> Functions() {
  return {reinterpret_cast<uintptr_t>(&Leaf),
          reinterpret_cast<uintptr_t>(&Middle),
          reinterpret_cast<uintptr_t>(&Outer),
          reinterpret_cast<uintptr_t>(&Recurse),
          reinterpret_cast<uintptr_t>(&ThrowThrough),
          reinterpret_cast<uintptr_t>(&CatchThenLeaf),
          reinterpret_cast<uintptr_t>(&Spin),
          reinterpret_cast<uintptr_t>(&CallsInlined),
          reinterpret_cast<uintptr_t>(&TwoLoops),
          reinterpret_cast<uintptr_t>(&SpinTwice),
          reinterpret_cast<uintptr_t>(&WriteLoop),
          reinterpret_cast<uintptr_t>(&SpinInlined),
          reinterpret_cast<uintptr_t>(&Nap),
          reinterpret_cast<uintptr_t>(&NapFiveTimes),
          reinterpret_cast<uintptr_t>(&ReadPipeAfter),
          reinterpret_cast<uintptr_t>(&NapRecursively),
          reinterpret_cast<uintptr_t>(&SlowAmongFast),
          reinterpret_cast<uintptr_t>(&Tick),
          reinterpret_cast<uintptr_t>(&Park),
          reinterpret_cast<uintptr_t>(&WaitHere),
          reinterpret_cast<uintptr_t>(&SpawnFromHere),
          reinterpret_cast<uintptr_t>(&LeakBytes),
          reinterpret_cast<uintptr_t>(&FreeLeaked),
          reinterpret_cast<uintptr_t>(&ContendMutex),
          reinterpret_cast<uintptr_t>(&WaitForLock),
          reinterpret_cast<uintptr_t>(&WaitForSignal),
          reinterpret_cast<uintptr_t>(&WaitOnCondition),
          reinterpret_cast<uintptr_t>(&JoinHere),
          reinterpret_cast<uintptr_t>(&JoinSleeper),
          reinterpret_cast<uintptr_t>(&LockAlone),
          reinterpret_cast<uintptr_t>(&ReadWhenFree),
          reinterpret_cast<uintptr_t>(&ContendSharedMutex),
          reinterpret_cast<uintptr_t>(&HoldAbslLock),
          reinterpret_cast<uintptr_t>(&WaitForAbslLock),
          reinterpret_cast<uintptr_t>(&ContendAbslMutex),
          reinterpret_cast<uintptr_t>(&WaitOnAbslCondVar),
          reinterpret_cast<uintptr_t>(&WaitForAbslSignal)};
}

}  // namespace workload
