// Small instrumented functions with known call structure, shared by the tests. Built with
// -finstrument-functions whatever the build config (see tests/BUILD), never inlined.
#ifndef HOOKPROF_TESTS_WORKLOAD_H_
#define HOOKPROF_TESTS_WORKLOAD_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <vector>

namespace workload {

void Leaf();
// Calls Leaf() n times.
void Middle(int n);
// Calls Middle(m) n times.
void Outer(int n, int m);
// depth nested calls of itself.
uint64_t Recurse(int depth);
// Throws std::runtime_error through `depth` instrumented frames.
void ThrowThrough(int depth);
// Catches what ThrowThrough(depth) throws, then calls Leaf() once.
void CatchThenLeaf(int depth);
// Calls an always-inlined instrumented function n times: GCC runs its hooks from this frame.
void CallsInlined(int n);
// Calls f(arg) from a hooked frame (code without hooks under hooked code).
void CallsOut(void (*f)(int), int arg);
// Burns about `millis` of this thread's CPU time inside Spin().
uint64_t Spin(int millis);
// Source-level workloads, each burning about `millis` of this thread's CPU time:
// TwoLoops: in two loops of its own, three quarters in the first (line LOOP-A).
uint64_t TwoLoops(int millis);
// SpinTwice: Spin(first) from one line (CALL-FIRST), then Spin(second) from the next.
void SpinTwice(int first_millis, int second_millis);
// WriteLoop: one-byte writes to /dev/null, so its time is in libc's write and the kernel.
void WriteLoop(int millis);
// SpinInlined: in a loop of MixInline, a function inlined into it without hooks of its own.
uint64_t SpinInlined(int millis);

// Timing workloads (off-CPU): Nap sleeps `millis`; NapFiveTimes calls Nap(millis) five times;
// ReadPipeAfter blocks in read(2) on a pipe until another thread writes it after `millis`;
// NapRecursively recurses `depth` deep, then Naps once.
void Nap(int millis);
void NapFiveTimes(int millis);
int64_t ReadPipeAfter(int millis);
uint64_t NapRecursively(int depth, int millis);
// SlowAmongFast: `slow_calls` times, Tick() `fast_per_slow` times, then Nap(2): exactly
// `slow_calls` calls of 2 ms or more among many of a few nanoseconds (filtered traces). Safe on
// several threads at once.
void SlowAmongFast(int slow_calls, int fast_per_slow);
void Tick();

// Park calls WaitHere, which sleeps until *flag is true.
void Park(const std::atomic<bool>* flag);
// Starts a thread named "spawned" running `body` from inside this function, and joins it.
void SpawnFromHere(void (*body)());

// Allocates `count` blocks of `size` bytes with malloc and keeps them (LeakedBlocks frees).
void LeakBytes(int count, size_t size);
void FreeLeaked();

// Contention. Each returns how long the waiting call took (ns), measured around it.
// WaitForLock waits for a std::mutex that a "holder" thread keeps for `millis`, and until the
// waiter blocks on it: one contended acquisition per call, on a loaded machine too.
int64_t ContendMutex(int millis);
// ReadWhenFree waits for a std::shared_mutex held exclusively by another thread.
int64_t ContendSharedMutex(int millis);
// WaitForAbslLock waits for an absl::Mutex that HoldAbslLock keeps (on another thread) for
// `millis`; abseil reports the wait when HoldAbslLock releases it.
int64_t ContendAbslMutex(int millis);
void HoldAbslLock(void* mu, std::atomic<bool>* held, int millis);
// WaitOnCondition waits on a std::condition_variable signalled after `millis`.
int64_t WaitForSignal(int millis);
// WaitOnAbslCondVar waits on an absl::CondVar signalled after `millis`.
int64_t WaitForAbslSignal(int millis);
// JoinHere joins a thread that sleeps `millis`.
int64_t JoinSleeper(int millis);
// Uncontended: `n` lock/unlock pairs of a std::mutex in LockAlone.
void LockAlone(int n);

// Addresses of every function above, for tests that anchor call paths at the first workload
// frame (the frames above it depend on whether the test itself is instrumented).
std::vector<uintptr_t> Functions();

}  // namespace workload

#endif  // HOOKPROF_TESTS_WORKLOAD_H_
