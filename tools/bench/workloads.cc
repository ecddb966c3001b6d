#include "tools/bench/workloads.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

// Helpers that only expand the tree: never instrumented, always inlined, so the hooks see
// exactly the functions the header lists.
#define BENCH_GLUE __attribute__((always_inline, no_instrument_function)) inline

namespace bench {
namespace {

__attribute__((noinline)) uint64_t FibImpl(int n) {
  return n < 2 ? n : FibImpl(n - 1) + FibImpl(n - 2);
}

template <int I, int D>
__attribute__((noinline)) void Chain(uint64_t* acc) {
  if constexpr (D < 17) {
    Chain<I, D + 1>(acc);
  } else {
    *acc += I;
  }
  asm volatile("" ::: "memory");  // Keep each level a real call in the plain build too.
}

template <int A, int B>
__attribute__((noinline)) void Mid(uint64_t* acc) {
  Chain<A * 10 + B, 0>(acc);
  asm volatile("" ::: "memory");
}

template <int A, int... B>
BENCH_GLUE void CallMids(uint64_t* acc, std::integer_sequence<int, B...>) {
  (Mid<A, B>(acc), ...);
}

template <int A>
__attribute__((noinline)) void Branch(uint64_t* acc) {
  CallMids<A>(acc, std::make_integer_sequence<int, 10>{});
  asm volatile("" ::: "memory");
}

template <int... A>
BENCH_GLUE void CallBranches(uint64_t* acc, std::integer_sequence<int, A...>) {
  (Branch<A>(acc), ...);
}

__attribute__((noinline)) void Top(uint64_t* acc) {
  CallBranches(acc, std::make_integer_sequence<int, 10>{});
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) std::string MakeKey(int i) {
  return "key-" + std::to_string((i * 2654435761u) % 1000003) + "-" + std::to_string(i % 97);
}

__attribute__((noinline)) bool KeyLess(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

__attribute__((noinline)) uint64_t SortAndIndex(int n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (int i = 0; i < n; ++i) keys.push_back(MakeKey(i));
  std::sort(keys.begin(), keys.end(),
            [](const std::string& a, const std::string& b) { return KeyLess(a, b); });
  std::map<std::string, int> index;
  for (int i = 0; i < n; ++i) index.emplace(keys[i], i);
  uint64_t h = 0;
  for (const auto& [k, v] : index) h = h * 31 + k.size() + v;
  return h;
}

}  // namespace

uint64_t Fib(int n) { return FibImpl(n); }

uint64_t FibCalls(int n) {
  uint64_t a = 0, b = 1;  // F(0), F(1)
  for (int i = 0; i < n + 1; ++i) {
    const uint64_t c = a + b;
    a = b;
    b = c;
  }
  return 2 * a - 1;  // a = F(n + 1)
}

uint64_t WideTree(int repeats) {
  uint64_t acc = 0;
  for (int i = 0; i < repeats; ++i) Top(&acc);
  return acc;
}

uint64_t Templates(int rounds) {
  uint64_t h = 0;
  for (int r = 0; r < rounds; ++r) h += SortAndIndex(20000);
  return h;
}

}  // namespace bench
