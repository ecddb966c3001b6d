// Microbenchmarks of single parts (Google Benchmark): the hook pair on a hot path, the
// calling-context lookup when the hot-child shortcut misses, profile encoding, the interposed
// allocator and lock functions against the C library's own, and a sample's stack walk.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <thread>

#include "hookprof.h"
#include "hookprof/recorder.h"
#include "instrument/mode.h"
#include "instrument/samplers/contention.h"
#include "instrument/samplers/heap_sampler.h"
#include "instrument/state/thread_state.h"
#include "instrument/unwind.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/frame_rules_builder.h"
#include "runtime/symbols/symbolizer.h"

extern "C" void __cyg_profile_func_enter(void*, void*);
extern "C" void __cyg_profile_func_exit(void*, void*);

namespace {

namespace hi = hookprof::instrument;

void* Fn(uintptr_t i) { return reinterpret_cast<void*>(0x400000 + i * 16); }

// enter + exit of one function, over and over from the same caller: the common case.
void BM_HookPair(benchmark::State& state) {
  hi::SetMode(static_cast<hi::Mode>(state.range(0)));
  for (auto _ : state) {
    __cyg_profile_func_enter(Fn(1), nullptr);
    __cyg_profile_func_exit(Fn(1), nullptr);
  }
  hi::SetMode(hi::kModeProfile);
  state.SetLabel(state.range(0) == 0 ? "off" : state.range(0) == 1 ? "profile" : "trace");
}
BENCHMARK(BM_HookPair)->Arg(hi::kModeOff)->Arg(hi::kModeProfile)->Arg(hi::kModeTrace);

extern "C" void __sanitizer_cov_trace_pc_guard_init(uint32_t* start, uint32_t* stop);
extern "C" void __sanitizer_cov_trace_pc_guard(uint32_t* guard);
extern "C" void __sanitizer_cov_trace_pc();

// One covered edge (clang's trace-pc-guard), already seen on this thread: the common case.
// The guards are registered through the real init path, as a module's constructor would.
void BM_SancovEdge(benchmark::State& state) {
  static uint32_t guards[64];
  __sanitizer_cov_trace_pc_guard_init(guards, guards + 64);
  for (auto _ : state) __sanitizer_cov_trace_pc_guard(&guards[7]);
}
BENCHMARK(BM_SancovEdge);

// GCC's trace-pc: the PC is looked up in the thread's table.
void BM_SancovTracePc(benchmark::State& state) {
  for (auto _ : state) __sanitizer_cov_trace_pc();
}
BENCHMARK(BM_SancovTracePc);

// Alternating among N children of one caller: the hot-child shortcut misses, the hash finds.
void BM_CctLookupMiss(benchmark::State& state) {
  const uintptr_t n = state.range(0);
  uintptr_t i = 0;
  for (auto _ : state) {
    __cyg_profile_func_enter(Fn(100 + i), nullptr);
    __cyg_profile_func_exit(Fn(100 + i), nullptr);
    i = i + 1 == n ? 0 : i + 1;
  }
}
BENCHMARK(BM_CctLookupMiss)->Arg(2)->Arg(1000);

// Encoding a CPU profile whose tree has N leaf paths under 1,000 callers (symbolization
// included): with 100 distinct callees (a large real tree: ~1,100 functions), or with every
// callee distinct (the worst case: ~N functions). Every thread's tree so far is encoded; the
// counter says how many nodes that was.
void BM_EncodeProfile(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool distinct = state.range(1) != 0;
  std::thread t([n, distinct] {
    for (int64_t i = 0; i < n; ++i) {
      const uintptr_t callee = distinct ? 300000 + i : 200000 + i / 1000;
      __cyg_profile_func_enter(Fn(10000 + i % 1000), nullptr);
      __cyg_profile_func_enter(Fn(callee), nullptr);
      __cyg_profile_func_exit(Fn(callee), nullptr);
      __cyg_profile_func_exit(Fn(10000 + i % 1000), nullptr);
    }
  });
  t.join();
  const auto snap = hookprof::runtime::Snapshot::Take();
  const auto delta = hookprof::runtime::Snapshot::Delta(hookprof::runtime::Snapshot(), snap);
  auto symbolizer = hookprof::runtime::Symbolizer::Current();
  size_t bytes = 0;
  size_t nodes = 0;
  for (const auto& th : delta.threads) nodes += th.calls.size();
  for (auto _ : state) {
    hookprof::runtime::ProfileBuilder b(symbolizer);
    hookprof::runtime::BuildCpuProfile(delta, 1000000000, 10000000, &b);
    bytes = b.Finish().size();
  }
  state.counters["nodes"] = nodes;
  state.counters["nodes/s"] = benchmark::Counter(static_cast<double>(nodes) * state.iterations(),
                                                 benchmark::Counter::kIsRate);
  state.counters["bytes"] = bytes;
}
BENCHMARK(BM_EncodeProfile)
    ->Args({100000, 0})  // ~101,000 nodes, ~1,100 functions: a large real tree.
    ->Args({100000, 1})  // ~101,000 more nodes, ~100,000 more functions: the worst case.
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

extern "C" void* __libc_malloc(size_t);
extern "C" void __libc_free(void*);

// malloc + free of 64 bytes: the C library's own (the baseline), and through hookprof's
// interposed allocator with the default 512 KiB sampling rate and with every call sampled.
void BM_MallocFree(benchmark::State& state) {
  const int64_t mode = state.range(0);
  if (mode > 0) hookprof::instrument::SetHeapSampleRate(mode == 1 ? 512 * 1024 : 1);
  for (auto _ : state) {
    void* p = mode == 0 ? __libc_malloc(64) : malloc(64);
    benchmark::DoNotOptimize(p);
    if (mode == 0) {
      __libc_free(p);
    } else {
      free(p);
    }
  }
  hookprof::instrument::SetHeapSampleRate(512 * 1024);
  state.SetLabel(mode == 0   ? "libc directly"
                 : mode == 1 ? "sampled every 512 KiB"
                             : "every call sampled");
}
BENCHMARK(BM_MallocFree)->Arg(0)->Arg(1)->Arg(2);

// An uncontended lock + unlock of a mutex: the C library's own functions (the baseline), and
// through hookprof's interposed pthread_mutex_lock (a try-lock; nothing timed).
void BM_MutexUncontended(benchmark::State& state) {
  using LockFn = int (*)(pthread_mutex_t*);
  static const LockFn libc_lock = reinterpret_cast<LockFn>(dlsym(RTLD_NEXT, "pthread_mutex_lock"));
  const bool libc = state.range(0) == 0;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  for (auto _ : state) {
    if (libc) {
      libc_lock(&m);
    } else {
      pthread_mutex_lock(&m);
    }
    pthread_mutex_unlock(&m);
  }
  state.SetLabel(libc ? "libc directly" : "through hookprof");
}
BENCHMARK(BM_MutexUncontended)->Arg(0)->Arg(1);

// What hookprof adds to a wait it records (a contended lock, a blocking call): the two clock
// reads around it and the record into the stack table.
void BM_RecordedWaitOverhead(benchmark::State& state) {
  const uintptr_t site = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  for (auto _ : state) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_MONOTONIC, &b);
    hookprof::instrument::RecordBlock(1000 + (b.tv_nsec - a.tv_nsec), site);
  }
}
BENCHMARK(BM_RecordedWaitOverhead);

}  // namespace

// The walk and graft of a sampled event (instrument/unwind.h) under `depth` frames of plain code,
// in mode off (grafted under the root; the path is known after the first walk, as it is for a
// hot stack), with every module's frame rules published as CPU sampling does. The SIGPROF
// handler makes the same walk from the signal's context; the slope over depth is the cost per
// frame.
__attribute__((noinline)) uint32_t WalkUnder(int depth, hi::ThreadState* s) {
  if (depth > 0) {
    uint32_t node = WalkUnder(depth - 1, s);
    benchmark::DoNotOptimize(node);  // Not a tail call: this frame stays.
    return node;
  }
  return hi::GraftedCallerNode(s, reinterpret_cast<uintptr_t>(__builtin_return_address(0)), false);
}

void BM_StackWalk(benchmark::State& state) {
  hookprof::runtime::PublishFrameRules();
  hi::SetMode(hi::kModeOff);
  hi::ThreadState* s = hi::CurrentThreadState();
  const int depth = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(WalkUnder(depth, s));
  state.counters["cut_walks"] = static_cast<double>(s->cut_walks);
  hi::SetMode(hi::kModeProfile);
}
BENCHMARK(BM_StackWalk)->Arg(1)->Arg(8)->Arg(32)->Arg(56);

// A label scope entered and left, in profile mode under a hooked frame: from a Labels value
// looked up before (arg 0), and from two pairs merged over the current labels (arg 1).
void BM_LabelScope(benchmark::State& state) {
  hi::SetMode(hi::kModeProfile);
  __cyg_profile_func_enter(Fn(2), nullptr);
  const hookprof::Labels labels({{"endpoint", "/search"}, {"tenant", "42"}});
  for (auto _ : state) {
    if (state.range(0) == 0) {
      hookprof::LabelScope scope(labels);
      benchmark::ClobberMemory();
    } else {
      hookprof::LabelScope scope({{"endpoint", "/search"}, {"tenant", "42"}});
      benchmark::ClobberMemory();
    }
  }
  __cyg_profile_func_exit(Fn(2), nullptr);
  state.SetLabel(state.range(0) == 0 ? "from Labels" : "from two pairs");
}
BENCHMARK(BM_LabelScope)->Arg(0)->Arg(1);

// A recorder (hookprof/testing.h) made and ended (arg 0), and made, asked one function's calls
// and ended (arg 1): what an assertion on exact counts adds to a unit test.
void BM_Recorder(benchmark::State& state) {
  hi::SetMode(hi::kModeOff);
  for (auto _ : state) {
    hookprof::testing::Recorder r;
    if (state.range(0) == 1) benchmark::DoNotOptimize(r.Calls("hookprof::Use").count);
  }
  hi::SetMode(hi::kModeProfile);
  state.SetLabel(state.range(0) == 0 ? "made and ended" : "one Calls(name) query");
}
BENCHMARK(BM_Recorder)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
