#include "tests/call_sites_workload.h"

extern "C" void __cyg_profile_func_enter(void* this_fn, void* call_site);

namespace sites {

__attribute__((noinline)) int Leaf(int* x) {
  asm volatile("" : : "r"(x) : "memory");
  return ++*x;
}

__attribute__((noinline)) int Kept(int* x) {
  asm volatile("" : : "r"(x) : "memory");
  return ++*x;
}

__attribute__((noinline)) int Loop(int n, int* x) {
  // Unsigned: a caller that loops until told to stop (call_sites_test's switching stress) sums
  // more the longer it runs, past INT_MAX on a busy machine.
  unsigned sum = 0;
  for (int i = 0; i < n; ++i)
    sum += static_cast<unsigned>(Leaf(x)) + static_cast<unsigned>(Kept(x));
  return static_cast<int>(sum);
}

__attribute__((noinline)) int Recurse(int depth, int at, void (*at_depth)()) {
  if (depth == at) at_depth();
  if (depth == 0) return 0;
  return Recurse(depth - 1, at, at_depth) + 1;
}

__attribute__((noinline)) int Again(int depth) { return Recurse(depth, -1, nullptr) + 1; }

__attribute__((noinline)) void TailLeaf(int* x) { ++*x; }

__attribute__((noinline, no_instrument_function)) void CallsHookThroughPointer() {
  void (*volatile enter)(void*, void*) = &__cyg_profile_func_enter;
  enter(reinterpret_cast<void*>(&Kept), __builtin_return_address(0));
  asm volatile("" ::: "memory");  // A call, not a jump: the hook returns here.
}

}  // namespace sites

// StraddledCalls: the enter hook's call at offset 63 of a 64-byte line, its first two bytes in
// two cache lines.
asm(R"(
  .text
  .p2align 6
  .globl sites_straddled_calls
  .type sites_straddled_calls, @function
sites_straddled_calls:
.Lsites_straddled_start:
  push %rbx
  lea .Lsites_straddled_start(%rip), %rbx
  mov %rbx, %rdi
  mov 8(%rsp), %rsi
  .org .Lsites_straddled_start + 63, 0x90
  call __cyg_profile_func_enter@PLT
  mov %rbx, %rdi
  mov 8(%rsp), %rsi
  call __cyg_profile_func_exit@PLT
  pop %rbx
  ret
  .size sites_straddled_calls, . - sites_straddled_calls
)");
