// A program under test for the client tests: links //:autostart (configured by HOOKPROF_*),
// and runs known workloads when told to on stdin, one command a line:
//   burst   Outer(100, 10) once on a new thread named "burst": exactly 1 Outer, 100 Middle and
//           1000 Leaf calls
//   spin N  Spin(N) on a new thread named "spinner": N ms of CPU in workload::Spin; prints
//           "spun <start> <end>" (CLOCK_REALTIME ns) before its "done"
//   lines N TwoLoops, SpinTwice, WriteLoop and SpinInlined, about N ms each, on "lines"
//   slow N [F]  SlowAmongFast(N, F) on 4 threads named "busy" at once: 4 x N calls of Nap(2)
//           among 4 x N x F calls of Tick (F: 20,000 if not given)
//   naps N  Nap(10) N times on a thread named "napper"
//   leak N  workload::LeakBytes(N, 10000) on a thread named "leaker": N x 10,000 bytes kept
//   contend N  workload::ContendMutex(N) on a thread named "contender": it waits about N ms for a
//           std::mutex in WaitForLock; prints "waited <ns>" as measured around the lock call
//   signal N   workload::WaitForSignal(N) on a thread named "waiter" (a condition variable wait
//           in WaitOnCondition); prints "waited <ns>"
//   labelled N  two threads at once, under labels (hookprof.h): "search" (endpoint=/search,
//           tenant=42) runs Middle(1000) and Spin(N); "put" (endpoint=/put) runs Middle(3000) and
//           Spin(3 N): exactly 1000 and 3000 Leaf calls, CPU about 1 to 3
//   fork    fork(); the child runs Middle(3) and exits with exit(0) (atexit handlers run)
//   quit    exit(0)
// It answers each command with "done" on stdout.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <thread>

#include "hookprof.h"
#include "tests/workload.h"

namespace {

int64_t g_waited = 0;

bool g_forked_child = false;

}  // namespace

// Asked by LeakSanitizer (sanitizer builds) before its check at exit. In a forked child the
// parent's other threads are gone, and what only their stacks referenced would be reported.
extern "C" int __lsan_is_turned_off() { return g_forked_child ? 1 : 0; }

namespace {

int64_t RealtimeNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void RunNamed(const char* name, void (*fn)(int), int arg) {
  std::thread t([=] {
    pthread_setname_np(pthread_self(), name);
    fn(arg);
  });
  t.join();
}

}  // namespace

int main() {
#if defined(__SANITIZE_THREAD__)
  std::cerr << "workload_server: built with ThreadSanitizer" << std::endl;
#endif
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "burst") {
      RunNamed(
          "burst", [](int) { workload::Outer(100, 10); }, 0);
    } else if (line.compare(0, 5, "spin ") == 0) {
      // When it ran (CLOCK_REALTIME, a profile's clock), for tests that check a window held it.
      const int64_t start = RealtimeNanos();
      RunNamed(
          "spinner", [](int ms) { workload::Spin(ms); }, atoi(line.c_str() + 5));
      std::cout << "spun " << start << " " << RealtimeNanos() << std::endl;
    } else if (line.compare(0, 6, "lines ") == 0) {
      // "lines N": the source-level workloads, N ms each, on a thread named "lines".
      RunNamed(
          "lines",
          [](int ms) {
            workload::TwoLoops(ms);
            workload::SpinTwice(ms / 4, 3 * ms / 4);
            workload::WriteLoop(ms);
            workload::SpinInlined(ms);
          },
          atoi(line.c_str() + 6));
    } else if (line.compare(0, 5, "slow ") == 0) {
      int n = 0, fast = 20000;
      sscanf(line.c_str() + 5, "%d %d", &n, &fast);
      std::thread busy[4];
      for (auto& t : busy) {
        t = std::thread([n, fast] {
          pthread_setname_np(pthread_self(), "busy");
          workload::SlowAmongFast(n, fast);
        });
      }
      for (auto& t : busy) t.join();
    } else if (line.compare(0, 5, "naps ") == 0) {
      RunNamed(
          "napper",
          [](int n) {
            for (int i = 0; i < n; ++i) workload::Nap(10);
          },
          atoi(line.c_str() + 5));
    } else if (line.compare(0, 5, "leak ") == 0) {
      // "leak N": N blocks of 10,000 bytes, kept, allocated by workload::LeakBytes.
      RunNamed(
          "leaker", [](int n) { workload::LeakBytes(n, 10000); }, atoi(line.c_str() + 5));
    } else if (line.compare(0, 8, "contend ") == 0) {
      RunNamed(
          "contender", [](int ms) { g_waited = workload::ContendMutex(ms); },
          atoi(line.c_str() + 8));
      std::cout << "waited " << g_waited << std::endl;
    } else if (line.compare(0, 7, "signal ") == 0) {
      RunNamed(
          "waiter", [](int ms) { g_waited = workload::WaitForSignal(ms); }, atoi(line.c_str() + 7));
      std::cout << "waited " << g_waited << std::endl;
    } else if (line.compare(0, 9, "labelled ") == 0) {
      const int ms = atoi(line.c_str() + 9);
      std::thread search([ms] {
        pthread_setname_np(pthread_self(), "search");
        hookprof::LabelScope scope({{"endpoint", "/search"}, {"tenant", "42"}});
        workload::Middle(1000);
        workload::Spin(ms);
      });
      std::thread put([ms] {
        pthread_setname_np(pthread_self(), "put");
        hookprof::LabelScope scope({{"endpoint", "/put"}});
        workload::Middle(3000);
        workload::Spin(3 * ms);
      });
      search.join();
      put.join();
    } else if (line == "fork") {
      const pid_t child = fork();
      if (child == 0) {
        g_forked_child = true;
        workload::Middle(3);
        exit(0);
      }
      int status = 0;
      waitpid(child, &status, 0);
      std::cout << "child exited " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << std::endl;
    } else if (line == "quit") {
      break;
    } else {
      std::cout << "unknown command: " << line << std::endl;
      continue;
    }
    std::cout << "done" << std::endl;
  }
  return 0;
}
