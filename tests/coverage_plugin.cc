// A shared library with sanitizer coverage, loaded by coverage_test at run time.
extern "C" int coverage_plugin_branch(int x) {
  if (x % 2 == 0) {
    return x / 2;
  }
  return 3 * x + 1;
}
