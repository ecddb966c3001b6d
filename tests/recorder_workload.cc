#include "tests/recorder_workload.h"

namespace acme {

__attribute__((noinline)) int Leaf(int x) { return x + 1; }
__attribute__((noinline)) int Leaf(double x) { return static_cast<int>(x) + 2; }

template <typename T>
__attribute__((noinline)) T Max(T a, T b) {
  return a < b ? b : a;
}
template int Max<int>(int, int);
template double Max<double>(double, double);

__attribute__((noinline)) int Mid(int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += Leaf(i);
  return s;
}

__attribute__((noinline)) void Allocate(int n, size_t bytes) {
  static char* blocks[kMaxBlocks];
  for (int i = 0; i < n && i < kMaxBlocks; ++i) blocks[i] = new char[bytes];
  for (int i = 0; i < n && i < kMaxBlocks; ++i) delete[] blocks[i];
}

__attribute__((noinline)) int SumTo(int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s = Max(s, s + i);
  return s;
}

}  // namespace acme
