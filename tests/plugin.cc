// An instrumented shared library that tests load with dlopen.
extern "C" __attribute__((noinline, visibility("default"))) void hookprof_plugin_leaf() {
  asm volatile("");
}

extern "C" __attribute__((noinline, visibility("default"))) void hookprof_plugin_work(int n) {
  for (int i = 0; i < n; ++i) hookprof_plugin_leaf();
}
