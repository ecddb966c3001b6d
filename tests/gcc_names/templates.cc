// A program of the shapes GCC's exclusion lists must name as GCC prints them
// (tests/preload_test.sh): members of class templates with default arguments (GCC leaves those out:
// "ns::Enc<>"), one with a comma left in its arguments, one whose argument is a standard container
// of such a class (GCC's DWARF gives std::allocator's instantiations no template parameters), an
// anonymous namespace ("{anonymous}") and operator().
#include <cstdio>
#include <vector>
namespace ns {
template <typename C = char>
struct Enc {
  typedef C Ch;
};
struct Alloc {};
template <typename E, typename A = Alloc>
struct Buf {
  long n = 0;
  __attribute__((noinline)) void Put(typename E::Ch c) { n += c; }
};
template <typename S, typename T, typename A = Alloc>
struct Reader {
  __attribute__((noinline)) int Parse(int x) { return x + 1; }
};
namespace {
struct Local {
  __attribute__((noinline)) int Step(int x) { return x ^ 1; }
};
}  // namespace
template <typename V>
struct Holder {
  V v;
  __attribute__((noinline)) size_t Count() const { return v.capacity(); }
};
struct F {
  __attribute__((noinline)) int operator()(int x) const { return x * 3; }
};
__attribute__((noinline)) void Slow() {
  volatile long s = 0;
  for (long i = 0; i < 20000000; ++i) s = s + i;
}
}  // namespace ns
int main() {
  ns::Buf<ns::Enc<> > b;
  ns::Reader<ns::Enc<>, ns::Enc<> > r;
  ns::Local l;
  ns::F f;
  ns::Holder<std::vector<ns::Enc<> > > h;
  int x = 0;
  for (int i = 0; i < 200000; ++i) {
    b.Put('a');
    x = r.Parse(x);
    x = l.Step(x);
    x = f(x);
    x += static_cast<int>(h.Count());
  }
  ns::Slow();
  printf("%ld %d\n", b.n, x);
}
