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
// Burns about `millis` of this thread's CPU time inside Spin().
uint64_t Spin(int millis);

// Park calls WaitHere, which sleeps until *flag is true.
void Park(const std::atomic<bool>* flag);
// Starts a thread named "spawned" running `body` from inside this function, and joins it.
void SpawnFromHere(void (*body)());

// Allocates `count` blocks of `size` bytes with malloc and keeps them (LeakedBlocks frees).
void LeakBytes(int count, size_t size);
void FreeLeaked();

// Addresses of every function above, for tests that anchor call paths at the first workload
// frame (the frames above it depend on whether the test itself is instrumented).
std::vector<uintptr_t> Functions();

}  // namespace workload

#endif  // HOOKPROF_TESTS_WORKLOAD_H_
