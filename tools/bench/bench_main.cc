// One benchmark run: `bench_<variant> <workload>` runs the workload once and prints
//   workload=<name> ns=<elapsed> calls=<n> events=<trace events> rss_kib=<peak RSS>
//   sink=<result> [thread_ns=<a>,<b>]
// calls and events are counted by hookprof (hookprof variants only; -1 elsewhere); sink is the
// workload's checksum, the same in every variant. Startup is not timed. Workloads: fib
// (fib(35)), wide (10,000 x 1,911 calls), threads (fib(32) on two threads at once), thread1
// (fib(32) on one thread), templates. The real-code binaries (real_<variant>, BENCH_REAL) run
// json (a 22 MB document generated, parsed, walked and written with RapidJSON) and graph
// (Dijkstra from 2 sources on a random graph of 200,000 vertices and 1.6 M edges, Boost.Graph);
// `<workload> small` runs a hundredth of either. BENCH_WARMUP_SECONDS=N (real code): the
// workload runs over and over for N s first, and only the next run is timed and counted (the
// cost budget's steady state).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <string>
#include <thread>
#include <vector>

#ifdef BENCH_REAL
#include "tools/bench/real_workloads.h"
#else
#include "tools/bench/workloads.h"
#endif

#ifdef BENCH_SANCOV
#include "instrument/coverage/coverage.h"
#endif
#ifdef BENCH_HOOKPROF
#include "hookprof.h"
#include "instrument/state/thread_state.h"
#endif

namespace {

int64_t Now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

volatile uint64_t g_sink;

// Peak resident set of this process (VmHWM), in KiB.
long PeakRssKib() {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (strncmp(line, "VmHWM:", 6) == 0) kib = atol(line + 6);
  }
  fclose(f);
  return kib;
}

void RecordCounts(int64_t* calls, int64_t* events) {
  *calls = -1;
  *events = -1;
#ifdef BENCH_HOOKPROF
  *calls = 0;
  *events = 0;
  using hookprof::instrument::ThreadState;
  for (const ThreadState* s = hookprof::instrument::RegistryHead(); s; s = s->next) {
    if (s->internal) continue;
    const uint32_t n = hookprof::instrument::PublishedNodes(s);
    for (uint32_t i = 0; i < n; ++i) *calls += hookprof::instrument::LoadRelaxed(s->nodes[i].calls);
    *events += s->ring_head;
  }
#endif
#ifdef BENCH_SANCOV
  // Coverage callbacks that ran: the cheap mode's calls (the compiler's own count of function
  // entries, which differs from the hooks' where it turned recursion into loops).
  hookprof::instrument::CoverageCounts counts;
  hookprof::instrument::CollectCoverage(&counts);
  *calls = 0;
  for (uint64_t h : counts.edge_hits) *calls += h;
  for (const auto& pc : counts.pc_hits) *calls += pc.second;
#endif
}

}  // namespace

int main(int argc, char** argv) {
#ifdef BENCH_REAL
  if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "small") != 0)) {
    fprintf(stderr, "usage: %s json|graph [small]\n", argv[0]);
    return 2;
  }
  const int scale = argc == 3 ? 100 : 1;
#else
  if (argc != 2) {
    fprintf(stderr, "usage: %s fib|wide|threads|thread1|templates|labels\n", argv[0]);
    return 2;
  }
#endif
#ifdef BENCH_HOOKPROF
  hookprof::Options options = hookprof::OptionsFromEnvironment();
  options.serve = false;  // Recording and sampling only: the server is not what is measured.
  std::string error;
  if (!hookprof::Use(options, &error)) {
    fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
#endif
  const std::string w = argv[1];
  std::string extra;
  int64_t calls_before = 0, events_before = 0;
#ifdef BENCH_REAL
  if (w != "json" && w != "graph") {
    fprintf(stderr, "unknown workload %s\n", w.c_str());
    return 2;
  }
  const auto run = [&w, scale] {
    g_sink = w == "json" ? bench::JsonRoundTrip(200000 / scale, 1)
                         : bench::GraphPaths(200000 / scale, 8, 2);
  };
  if (const char* warmup = getenv("BENCH_WARMUP_SECONDS"); warmup != nullptr) {
    const int64_t until = Now() + static_cast<int64_t>(atof(warmup) * 1e9);
    while (Now() < until) run();
    RecordCounts(&calls_before, &events_before);
  }
  const int64_t start = Now();
  run();
#else
  const int64_t start = Now();
  if (w == "fib") {
    g_sink = bench::Fib(35);
  } else if (w == "wide") {
    g_sink = bench::WideTree(10000);
  } else if (w == "templates") {
    g_sink = bench::Templates(20);
  } else if (w == "labels") {
    // Fib(15) (1,973 calls) 15,000 times, in hookprof's variants each under a label scope of
    // one of 8 sets: the hooks' cost per call under labels, beside fib's without.
#ifdef BENCH_HOOKPROF
    std::vector<hookprof::Labels> sets;
    for (int i = 0; i < 8; ++i) sets.push_back(hookprof::Labels({{"request", std::to_string(i)}}));
#endif
    uint64_t sum = 0;
    for (int i = 0; i < 15000; ++i) {
#ifdef BENCH_HOOKPROF
      hookprof::LabelScope scope(sets[i % 8]);
#endif
      sum += bench::Fib(15);
    }
    g_sink = sum;
  } else if (w == "threads" || w == "thread1") {
    const int n = w == "threads" ? 2 : 1;
    std::vector<int64_t> ns(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&ns, i] {
        const int64_t t0 = Now();
        g_sink = bench::Fib(32);
        ns[i] = Now() - t0;
      });
    }
    for (auto& t : threads) t.join();
    extra = " thread_ns=";
    for (int i = 0; i < n; ++i) extra += (i ? "," : "") + std::to_string(ns[i]);
  } else {
    fprintf(stderr, "unknown workload %s\n", w.c_str());
    return 2;
  }
#endif
  const int64_t elapsed = Now() - start;
  int64_t calls, events;
  RecordCounts(&calls, &events);
  if (calls >= 0) calls -= calls_before;
  if (events >= 0) events -= events_before;
  printf("workload=%s ns=%lld calls=%lld events=%lld rss_kib=%ld sink=%llu%s\n", w.c_str(),
         static_cast<long long>(elapsed), static_cast<long long>(calls),
         static_cast<long long>(events), PeakRssKib(), static_cast<unsigned long long>(g_sink),
         extra.c_str());
  return 0;
}
