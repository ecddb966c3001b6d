// A program that forks, execs and is signalled as real programs are, for
// tests/processes_test.sh: with //:autostart linked (HOOKPROF_LINKED), and built with the compiler
// flag alone for LD_PRELOAD (tests/preload_test.sh). The calls it counts are in
// processes_work.cc, the only instrumented part.
//   processes work N           N calls of Work, then exit
//   processes fork-term        a forked child sent SIGTERM: prints how it ended, then that the
//                              parent still runs
//   processes spawn            1,000 calls of Work, then `system` starts this program (7 calls)
//                              and a sleep in the background, and the parent exits first
//   processes quick-exit       1,000 calls of Work, then quick_exit(0)
//   processes churn N          N threads one after another, 10 calls of Work each; prints how
//                              much the resident set grew, then waits for stdin to close
//   processes alarm            2,000,000 calls of Work while a 2 kHz SIGALRM handler calls Work
//                              too; prints how many times the handler ran
//   processes own-threads      a SIGUSR1 sent to the process while the main thread blocks it:
//                              prints which thread ran the handler (hookprof's threads must
//                              leave it pending for the program's)
//   processes blocked          a thread named "blocker" blocks SIGPROF, calls Work 1,000 times
//                              and is still alive at exit
//   processes abort | segv     1,000 calls of Work, then abort() or a store through a null
//                              pointer; first prints who handles that signal (hookprof, or a
//                              sanitizer's or the program's own handler)
//   processes fork-in-trace C  (linked) once a trace window of the server at context path C has
//                              switched the mode, forks; the child prints its own mode
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "tests/processes_work.h"

#ifdef HOOKPROF_LINKED
#include "hookprof.h"
#endif

namespace processes {

long ResidentKib() {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f != nullptr && fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  }
  if (f != nullptr) fclose(f);
  return kib;
}

// A server with a thread per connection, or a pool that recycles its threads: many threads,
// few at a time.
int Churn(int n) {
  std::thread warm([] { WorkTimes(10); });  // The first thread's costs are not churn's.
  warm.join();
  const long before = ResidentKib();
  for (int i = 0; i < n; ++i) {
    std::thread t([] { WorkTimes(10); });
    t.join();
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const char* sanitizer = " (a sanitizer's own per-thread memory included)";
#else
  const char* sanitizer = "";
#endif
  printf("%d threads: resident set grew by %ld KiB%s\n", n, ResidentKib() - before, sanitizer);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return 0;
}

volatile sig_atomic_t g_alarms = 0;

// Not instrumented itself (--config=instrumented hooks this file too): the handler's calls to
// count are its calls of Work, one per alarm.
#if defined(__clang__)
__attribute__((no_instrument_function, xray_never_instrument))
#else
__attribute__((no_instrument_function))
#endif
void OnAlarm(int) {
  g_alarms = g_alarms + 1;
  Work(7);
}

// A program whose signal handler runs instrumented code, often inside a hook.
int Alarm() {
  struct sigaction sa = {};
  sa.sa_handler = &OnAlarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, nullptr);
  itimerval every = {{0, 500}, {0, 500}};
  setitimer(ITIMER_REAL, &every, nullptr);
  WorkTimes(2000000);
  itimerval stop = {};
  setitimer(ITIMER_REAL, &stop, nullptr);
#if defined(__clang__)
  const char* compiler = "clang";
#else
  const char* compiler = "gcc";
#endif
  printf("alarm: main 2000000, handler %d, %s\n", static_cast<int>(g_alarms), compiler);
  return 0;
}

int Blocked() {
  std::atomic<bool> ready{false};
  std::thread blocker([&ready] {
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, nullptr);
    pthread_setname_np(pthread_self(), "blocker");
    WorkTimes(1000);
    ready = true;
    for (;;) pause();
  });
  blocker.detach();
  while (!ready) usleep(1000);
  return 0;
}

int ForkTerm() {
  WorkTimes(1000);
  const pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    for (;;) pause();
  }
  usleep(100000);
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status)) {
    printf("child signaled %d\n", WTERMSIG(status));
  } else {
    printf("child exited %d\n", WEXITSTATUS(status));
  }
  fflush(stdout);
  usleep(300000);  // Long enough for a parent that the child's signal reached to be gone.
  printf("parent alive\n");
  return 0;
}

int Spawn() {
  WorkTimes(1000);
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return 2;
  self[n] = '\0';
  // Both outlive this process: they end after its exit-time outputs are written.
  const std::string command = "(sleep 0.3; exec '" + std::string(self) + "' work 7) & sleep 0.5 &";
  return system(command.c_str()) == 0 ? 0 : 3;
}

#ifdef HOOKPROF_LINKED
std::string Mode(const std::string& context_path) {
  return hookprof::HandleHttp("GET", context_path + "/debug/hookprof/mode", "").body;
}

int ForkInTrace(const std::string& context_path) {
  for (int i = 0; i < 1000 && Mode(context_path).find("profile") != std::string::npos; ++i) {
    WorkTimes(10);
    usleep(10000);
  }
  printf("parent %s", Mode(context_path).c_str());
  fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    WorkTimes(10);
    printf("child %s", Mode(context_path).c_str());
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  // Until the window is over, so that the client gets its trace.
  for (int i = 0; i < 1000 && Mode(context_path).find("profile") == std::string::npos; ++i) {
    usleep(10000);
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 4;
}
#endif

std::atomic<pid_t> g_usr1_tid{0};

void OnUsr1(int) { g_usr1_tid = static_cast<pid_t>(syscall(SYS_gettid)); }

// Only hookprof's threads, if any, can take the signal while the main thread blocks it.
int OwnThreads() {
  signal(SIGUSR1, &OnUsr1);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  kill(getpid(), SIGUSR1);
  usleep(300000);
  const pid_t early = g_usr1_tid;
  pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
  const pid_t main_tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (early != 0) {
    printf("SIGUSR1 ran on thread %d, not the program's (%d)\n", static_cast<int>(early),
           static_cast<int>(main_tid));
  } else {
    printf("SIGUSR1 ran on %s\n", g_usr1_tid == main_tid ? "the main thread" : "nothing");
  }
  return 0;
}

}  // namespace processes

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "work" && argc > 2) return processes::WorkTimes(atoi(argv[2])) == -1;
  if (command == "fork-term") return processes::ForkTerm();
  if (command == "spawn") return processes::Spawn();
  if (command == "alarm") return processes::Alarm();
  if (command == "own-threads") return processes::OwnThreads();
  if (command == "blocked") return processes::Blocked();
  if (command == "churn" && argc > 2) return processes::Churn(atoi(argv[2]));
  if (command == "quick-exit") {
    processes::WorkTimes(1000);
    quick_exit(0);
  }
  if (command == "abort" || command == "segv") {
    const int sig = command == "abort" ? SIGABRT : SIGSEGV;
    struct sigaction now;
    sigaction(sig, nullptr, &now);
    printf("%s handler: %s\n", command.c_str(),
           now.sa_handler == SIG_DFL       ? "default"
           : (now.sa_flags & SA_RESETHAND) ? "one-shot"
                                           : "another");
    fflush(stdout);
    processes::WorkTimes(1000);
    if (sig == SIGABRT) abort();
    *static_cast<volatile int*>(processes::NullForCrash()) = 1;
    return 5;
  }
#ifdef HOOKPROF_LINKED
  if (command == "fork-in-trace" && argc > 2) return processes::ForkInTrace(argv[2]);
#endif
  fprintf(stderr,
          "usage: %s work N | fork-term | spawn | churn N | alarm | own-threads | blocked | "
          "quick-exit | abort | "
          "segv | "
          "fork-in-trace "
          "CONTEXT_PATH\n",
          argv[0]);
  return 1;
}
