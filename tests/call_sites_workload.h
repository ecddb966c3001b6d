// Code whose hook calls call_sites_test removes and puts back (built with the workloads' hooks).
#ifndef HOOKPROF_TESTS_CALL_SITES_WORKLOAD_H_
#define HOOKPROF_TESTS_CALL_SITES_WORKLOAD_H_

namespace sites {

// Each adds one to *x (int results: GCC calls the exit hook, then returns).
int Leaf(int* x);
int Kept(int* x);
// Leaf and Kept `n` times each.
int Loop(int n, int* x);
// depth nested calls of itself; at depth `at` (counting down) it calls `at_depth` once.
int Recurse(int depth, int at, void (*at_depth)());
// Recurse(depth, -1, nullptr) from a frame of its own.
int Again(int depth);
// A void function: GCC's -O2 ends it with a jump to the exit hook (a tail call).
void TailLeaf(int* x);
// Calls the enter hook through a pointer (`call *%rax`): a site that is not a hook call.
void CallsHookThroughPointer();

}  // namespace sites

// Hooks itself (enter and exit) with the enter hook's call split by a cache line (assembly).
extern "C" void sites_straddled_calls();

#endif  // HOOKPROF_TESTS_CALL_SITES_WORKLOAD_H_
