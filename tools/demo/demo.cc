// The demo: a deterministic multi-threaded workload of named functions, profiled by hookprof.
// Serves on 127.0.0.1:8900 under /demo (HOOKPROF_ADDR / HOOKPROF_CONTEXT_PATH override) until
// Ctrl-C or SIGTERM, then exits cleanly.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "hookprof.h"

namespace demo {

std::atomic<bool> g_stop{false};

uint64_t Fib(int n) { return n < 2 ? n : Fib(n - 1) + Fib(n - 2); }

// Fixed-size batches keep every round identical, so the call counts of any window are a
// whole multiple of a round's.
std::vector<uint32_t> MakeBatch(uint32_t seed) {
  std::vector<uint32_t> v(20000);
  for (auto& x : v) x = seed = seed * 1103515245u + 12345u;
  return v;
}

void SortBatch(std::vector<uint32_t>* v) { std::sort(v->begin(), v->end()); }

uint64_t Checksum(const std::vector<uint32_t>& v) {
  uint64_t h = 1469598103934665603ull;
  for (uint32_t x : v) h = (h ^ x) * 1099511628211ull;
  return h;
}

std::string RenderRecord(int i) { return "record-" + std::to_string(i * 7919 % 100003); }

size_t IndexRecords(std::map<std::string, int>* index) {
  for (int i = 0; i < 2000; ++i) (*index)[RenderRecord(i)] = i;
  return index->size();
}

// Each kind of work runs under labels, as a service labels its requests:
//   go tool pprof -tagfocus=endpoint=/sort -sample_index=calls URL   one endpoint's exact calls,
//   go tool pprof -tagroot=endpoint,tenant URL                       the graph split by them.
void FibWorker() {
  volatile uint64_t sink = 0;
  const hookprof::Labels labels({{"endpoint", "/fib"}});  // Looked up once: a cheap scope.
  while (!g_stop.load(std::memory_order_relaxed)) {
    hookprof::LabelScope scope(labels);
    sink = sink + Fib(24);
  }
}

void SortWorker() {
  volatile uint64_t sink = 0;
  uint32_t seed = 1;
  while (!g_stop.load(std::memory_order_relaxed)) {
    // Two tenants, one batch each in turn.
    hookprof::LabelScope scope({{"endpoint", "/sort"}, {"tenant", seed % 2 ? "acme" : "globex"}});
    std::vector<uint32_t> batch = MakeBatch(seed++);
    SortBatch(&batch);
    sink = sink + Checksum(batch);
  }
}

void IndexWorker() {
  volatile size_t sink = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    hookprof::LabelScope scope({{"endpoint", "/index"}});
    std::map<std::string, int> index;
    sink = sink + IndexRecords(&index);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::thread Start(const char* name, void (*fn)()) {
  std::thread t(fn);
  pthread_setname_np(t.native_handle(), name);
  return t;
}

}  // namespace demo

extern "C" void OnSignal(int) { demo::g_stop.store(true); }

int main() {
  hookprof::Options options = hookprof::OptionsFromEnvironment();
  if (getenv("HOOKPROF_CONTEXT_PATH") == nullptr) options.context_path = "/demo";
  std::string error;
  if (!hookprof::Use(options, &error)) {
    fprintf(stderr, "demo: %s\n", error.c_str());
    return 1;
  }
  struct sigaction sa = {};
  sa.sa_handler = &OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const std::string host = options.address.substr(0, options.address.rfind(':'));
  const std::string base = "http://" + host + ":" + std::to_string(hookprof::Port()) +
                           (options.context_path.empty() ? "" : options.context_path);
  printf(
      "demo: running; profile it with\n"
      "  go tool pprof -top %s/debug/pprof/profile?seconds=5\n"
      "  go tool pprof -top -sample_index=calls %s/debug/pprof/profile?seconds=5\n"
      "Ctrl-C stops it.\n",
      base.c_str(), base.c_str());
  fflush(stdout);

  std::vector<std::thread> threads;
  threads.push_back(demo::Start("demo-fib", &demo::FibWorker));
  threads.push_back(demo::Start("demo-sort", &demo::SortWorker));
  threads.push_back(demo::Start("demo-index", &demo::IndexWorker));
  for (auto& t : threads) t.join();
  printf("demo: stopped\n");
  return 0;
}
