#include "instrument/state/thread_state.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <initializer_list>

namespace hookprof {
namespace instrument {

uint64_t g_control __attribute__((visibility("hidden"))) = kModeProfile;
uint64_t g_timed_since __attribute__((visibility("hidden"))) = 0;
uint64_t g_slice_filter __attribute__((visibility("hidden"))) = 0;
__thread ThreadState* t_state __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

uint64_t g_ring_events = uint64_t{1} << 20;

constexpr uint32_t kInitialTableSlots = 1u << 12;
constexpr uint32_t kMaxTableSlots = 2 * kMaxNodes;

constexpr size_t RoundUp(size_t n) { return (n + 4095) & ~size_t{4095}; }
constexpr size_t kStateBytes = kStateRegionBytes;
constexpr size_t kStackBytes = kStackRegionBytes;
constexpr size_t kNodeBytes = RoundUp(sizeof(Node) * size_t{kMaxNodes});
constexpr size_t kTableBytes = RoundUp(sizeof(uint32_t) * size_t{kMaxTableSlots});
constexpr size_t kPcSampleBytes = RoundUp(sizeof(PcSample) * size_t{kMaxPcSamples});
constexpr size_t kPcIndexBytes = RoundUp(sizeof(uint16_t) * size_t{kPcIndexSlots});
constexpr size_t kLatencyHotBytes = RoundUp(sizeof(LatencyHot) * size_t{kMaxLatencyHistograms});
constexpr size_t kLatencyBytes = RoundUp(sizeof(LatencyHistogram) * size_t{kMaxLatencyHistograms});
constexpr size_t kLatencyIndexBytes = RoundUp(sizeof(uint32_t) * size_t{kLatencyIndexSlots});
constexpr size_t kMappingBytes = kStateBytes + kStackBytes + kNodeBytes + 2 * kTableBytes +
                                 kPcSampleBytes + kPcIndexBytes + kLatencyHotBytes + kLatencyBytes +
                                 kLatencyIndexBytes;

ThreadState* g_head = nullptr;  // Push-only list; CAS with release, loads with acquire.
uint64_t g_thread_index = 0;
void (*g_registered_callback)(ThreadState*) = nullptr;
void (*g_exit_callback)(ThreadState*) = nullptr;

// The state every internal thread points at: guard is never zero, so hooks return at once.
// Shared by those threads, so nothing writes it after constant initialisation.
constexpr ThreadState InternalState() {
  ThreadState s{};
  s.guard = 1;
  s.internal = 1;
  return s;
}
ThreadState g_internal_state = InternalState();

__thread int t_registering __attribute__((tls_model("initial-exec"))) = 0;

pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
pthread_key_t g_exit_key;

// States of exited threads not (yet) given to new threads; above kKeptDeadStates, the next
// thread to register takes one over (TakeOverDeadState).
uint64_t g_dead_states = 0;

// Creations recorded on states that were taken over: (creator, node) -> count. Written under
// g_retired_lock (registration, a slow path); read by copying under it.
RetiredCreation g_retired[kMaxRetiredCreations];
uint32_t g_retired_used = 0;
uint64_t g_retired_lost = 0;
int g_retired_lock = 0;

HOOKPROF_NO_INSTRUMENT void LockRetired() {
  while (__atomic_exchange_n(&g_retired_lock, 1, __ATOMIC_ACQUIRE)) sched_yield();
}
HOOKPROF_NO_INSTRUMENT void UnlockRetired() {
  __atomic_store_n(&g_retired_lock, 0, __ATOMIC_RELEASE);
}

HOOKPROF_NO_INSTRUMENT void RetireCreation(const ThreadState* creator, uint32_t node) {
  LockRetired();
  uint32_t i = 0;
  while (i < g_retired_used && (g_retired[i].creator != creator || g_retired[i].node != node)) ++i;
  if (i == g_retired_used && i < kMaxRetiredCreations) {
    g_retired[i] = RetiredCreation{creator, node, 0};
    __atomic_store_n(&g_retired_used, i + 1, __ATOMIC_RELAXED);
  }
  if (i < g_retired_used) {
    ++g_retired[i].count;
  } else {
    ++g_retired_lost;
  }
  UnlockRetired();
}

HOOKPROF_NO_INSTRUMENT void OnThreadExit(void* arg) {
  auto* s = static_cast<ThreadState*>(arg);
  // The thread's data stays; only its identity is frozen. Later TLS destructors may still run
  // instrumented code: t_state stays valid for them.
  prctl(PR_GET_NAME, s->name, 0, 0, 0);
  __atomic_store_n(&s->alive, 0, __ATOMIC_RELEASE);
  if (!s->internal) __atomic_add_fetch(&g_dead_states, 1, __ATOMIC_RELAXED);
  if (auto* cb = __atomic_load_n(&g_exit_callback, __ATOMIC_ACQUIRE)) cb(s);
}

// A thread that has left the kernel: no hook, TLS destructor or signal handler of it can run
// again. Its tid is free (a registering thread that has it proves the old one gone).
HOOKPROF_NO_INSTRUMENT bool Gone(const ThreadState* s, int my_tid) {
  if (s->tid == my_tid) return true;
  return syscall(SYS_tgkill, getpid(), s->tid, 0) == -1 && errno == ESRCH;
}

// Thread churn (a thread per connection, pools that recycle threads) must not grow memory with
// every thread ever started. Past kKeptDeadStates exited threads, a new thread takes over the
// state of one that is gone, data and all: its calling-context tree, counts, samples,
// histograms and rings go on growing from where they were, so every count stays exact (calls
// of both threads are summed under the state), node indices and snapshots stay valid, and
// memory follows the peak of live threads, not their total.
HOOKPROF_NO_INSTRUMENT ThreadState* TakeOverDeadState(int my_tid) {
  if (__atomic_load_n(&g_dead_states, __ATOMIC_RELAXED) <= kKeptDeadStates) return nullptr;
  for (ThreadState* s = __atomic_load_n(&g_head, __ATOMIC_ACQUIRE); s != nullptr; s = s->next) {
    if (__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE) != kStateDead || s->internal ||
        !Gone(s, my_tid)) {
      continue;
    }
    int dead = kStateDead;
    if (!__atomic_compare_exchange_n(&s->alive, &dead, kStateTakenOver, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED)) {
      continue;  // Another registering thread took it.
    }
    __atomic_sub_fetch(&g_dead_states, 1, __ATOMIC_RELAXED);
    if (const ThreadState* creator = __atomic_load_n(&s->creator, __ATOMIC_ACQUIRE)) {
      RetireCreation(creator, s->creator_node);
      __atomic_store_n(&s->creator, nullptr, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&s->depth, 0u, __ATOMIC_RELAXED);  // The old thread's frames ended with it.
    s->label_base = 0;                                  // So did its label scopes.
    s->label_depth = 0;
    s->label_frames = 0;
    __atomic_store_n(&s->label_current, 0u, __ATOMIC_RELAXED);
    s->guard = 0;
    s->node_count = s->published_nodes;
    if (s->ring != nullptr) s->ring_high = ~uint64_t{0};  // A sync event first, as a new ring.
    int deleted = 3;  // Its CPU timer went with it (cpu_sampler.cc): a new one may be armed.
    __atomic_compare_exchange_n(&s->timer_state, &deleted, 0, false, __ATOMIC_ACQ_REL,
                                __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->takeovers, 1, __ATOMIC_RELAXED);
    return s;
  }
  return nullptr;
}

HOOKPROF_NO_INSTRUMENT void CreateExitKey() { pthread_key_create(&g_exit_key, &OnThreadExit); }

HOOKPROF_NO_INSTRUMENT void Push(ThreadState* s) {
  ThreadState* head = __atomic_load_n(&g_head, __ATOMIC_ACQUIRE);
  do {
    s->next = head;
  } while (
      !__atomic_compare_exchange_n(&g_head, &head, s, true, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
}

// The end of registration, for a new state and a taken-over one alike.
HOOKPROF_NO_INSTRUMENT ThreadState* FinishRegistration(ThreadState* s, int saved_errno) {
  pthread_once(&g_key_once, &CreateExitKey);
  pthread_setspecific(g_exit_key, s);
  t_state = s;
  if (auto* cb = __atomic_load_n(&g_registered_callback, __ATOMIC_ACQUIRE)) cb(s);
  errno = saved_errno;
  t_registering = 0;
  return s;
}

}  // namespace

HOOKPROF_NO_INSTRUMENT ThreadState* MapState(int tid) {
  void* mem = mmap(nullptr, kMappingBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  char* p = static_cast<char*>(mem);
  auto* s = reinterpret_cast<ThreadState*>(p);
  s->stack = StackOf(s);
  s->nodes = NodesOf(s);
  s->table = reinterpret_cast<uint32_t*>(p + kStateBytes + kStackBytes + kNodeBytes);
  s->table_mask = kInitialTableSlots - 1;
  s->table_region = 0;
  char* pcs = p + kStateBytes + kStackBytes + kNodeBytes + 2 * kTableBytes;
  s->pc_samples = reinterpret_cast<PcSample*>(pcs);
  s->pc_index = reinterpret_cast<uint16_t*>(pcs + kPcSampleBytes);
  char* latency = pcs + kPcSampleBytes + kPcIndexBytes;
  s->latency_hot = reinterpret_cast<LatencyHot*>(latency);
  s->latency = reinterpret_cast<LatencyHistogram*>(latency + kLatencyHotBytes);
  s->latency_index = reinterpret_cast<uint32_t*>(latency + kLatencyHotBytes + kLatencyBytes);
  s->nodes[kRootNode].fn = kRootFn;
  s->nodes[kRootNode].parent = kRootNode;
  s->nodes[kOverflowNode].fn = kOverflowFn;
  s->nodes[kOverflowNode].parent = kRootNode;
  s->node_count = 2;
  s->published_nodes = 2;
  s->tid = tid;
  s->alive = kStateAlive;
  s->epoch = EpochOf(LoadControl());
  return s;
}

HOOKPROF_NO_INSTRUMENT ThreadState* RegisterCurrentThread() {
  if (t_registering) return nullptr;
  t_registering = 1;
  const int saved_errno = errno;  // Hooks must leave errno as they found it.

  const int tid = static_cast<int>(syscall(SYS_gettid));
  if (ThreadState* s = TakeOverDeadState(tid)) {
    __atomic_store_n(&s->tid, tid, __ATOMIC_RELAXED);
    s->epoch = EpochOf(LoadControl());
    s->thread_index = __atomic_add_fetch(&g_thread_index, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->alive, kStateAlive, __ATOMIC_RELEASE);
    return FinishRegistration(s, saved_errno);
  }
  ThreadState* s = MapState(tid);
  if (s == nullptr) {
    // Nothing can be recorded on this thread; treat it as internal rather than retry per call.
    t_state = &g_internal_state;
    errno = saved_errno;
    t_registering = 0;
    return nullptr;
  }
  s->thread_index = __atomic_add_fetch(&g_thread_index, 1, __ATOMIC_RELAXED);
  Push(s);
  return FinishRegistration(s, saved_errno);
}

HOOKPROF_NO_INSTRUMENT void UnmapState(ThreadState* s) {
  // Trace mode came on during a measurement: its rings were mapped apart, and this mapping is
  // left as it is rather than sized here.
  if (s->ring != nullptr || s->slices != nullptr) return;
  munmap(s, kMappingBytes);
}

HOOKPROF_NO_INSTRUMENT ThreadState* CurrentThreadState() {
  ThreadState* s = t_state;
  return s != nullptr ? s : RegisterCurrentThread();
}

namespace {

// The program's signals go to the program's threads: a signal sent to the process (SIGALRM,
// SIGINT, SIGCHLD) is delivered to any thread that does not block it, and on hookprof's threads
// its handler would interrupt nothing the program waits in, and run code the program expects on
// its own threads. Faults stay open: they are the thread's own.
HOOKPROF_NO_INSTRUMENT sigset_t ProgramSignals() {
  sigset_t all;
  sigfillset(&all);
  for (int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT}) {
    sigdelset(&all, fault);
  }
  return all;
}

}  // namespace

HOOKPROF_NO_INSTRUMENT ProgramSignalsBlocked::ProgramSignalsBlocked() {
  const sigset_t program = ProgramSignals();
  pthread_sigmask(SIG_BLOCK, &program, &old_);
}

HOOKPROF_NO_INSTRUMENT ProgramSignalsBlocked::~ProgramSignalsBlocked() {
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

HOOKPROF_NO_INSTRUMENT void MarkCurrentThreadInternal() {
  const sigset_t program = ProgramSignals();
  pthread_sigmask(SIG_BLOCK, &program, nullptr);
  ThreadState* s = t_state;
  if (s != nullptr && s != &g_internal_state && __atomic_load_n(&s->takeovers, __ATOMIC_RELAXED)) {
    // A state taken over from exited threads holds their data: it must stay in profiles. It
    // is left to them, as an exited thread's, and this thread records nothing from now on.
    pthread_setspecific(g_exit_key, nullptr);
    t_state = &g_internal_state;
    __atomic_store_n(&s->alive, kStateDead, __ATOMIC_RELEASE);
    __atomic_add_fetch(&g_dead_states, 1, __ATOMIC_RELAXED);
    if (auto* cb = __atomic_load_n(&g_exit_callback, __ATOMIC_ACQUIRE)) cb(s);
    return;
  }
  if (s != nullptr && s != &g_internal_state) {
    // Already recorded some calls: keep them, stop recording.
    __atomic_store_n(&s->internal, 1, __ATOMIC_RELAXED);
    s->guard = 1;
    return;
  }
  t_state = &g_internal_state;
}

HOOKPROF_NO_INSTRUMENT uint64_t SetTraceRingEvents(uint64_t events) {
  uint64_t n = 1024;
  while (n < events && n < (uint64_t{1} << 30)) n <<= 1;
  __atomic_store_n(&g_ring_events, n, __ATOMIC_RELAXED);
  return n;
}

HOOKPROF_NO_INSTRUMENT uint64_t TraceRingEvents() {
  return __atomic_load_n(&g_ring_events, __ATOMIC_RELAXED);
}

HOOKPROF_NO_INSTRUMENT uint64_t* MapTraceRing(ThreadState* s) {
  if (t_registering) return nullptr;  // Not from inside registration.
  const int saved_errno = errno;
  const uint64_t events = TraceRingEvents();
  void* mem = mmap(nullptr, events * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  errno = saved_errno;
  if (mem == MAP_FAILED) return nullptr;
  s->ring_mask = events - 1;
  s->ring_high = ~uint64_t{0};  // Forces a sync event first.
  // Release: a reader that sees the ring pointer sees its mask.
  __atomic_store_n(&s->ring, static_cast<uint64_t*>(mem), __ATOMIC_RELEASE);
  return s->ring;
}

HOOKPROF_NO_INSTRUMENT uint64_t TimedSince() {
  return __atomic_load_n(&g_timed_since, __ATOMIC_RELAXED);
}

HOOKPROF_NO_INSTRUMENT SliceRecord* MapSliceRing(ThreadState* s) {
  if (t_registering) return nullptr;
  const int saved_errno = errno;
  void* mem = mmap(nullptr, kSliceRingRecords * sizeof(SliceRecord), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  errno = saved_errno;
  if (mem == MAP_FAILED) return nullptr;
  s->slice_mask = kSliceRingRecords - 1;
  // Release: a reader that sees the pointer sees the mask.
  __atomic_store_n(&s->slices, static_cast<SliceRecord*>(mem), __ATOMIC_RELEASE);
  return s->slices;
}

HOOKPROF_NO_INSTRUMENT void SetSliceFilter(bool on, uint64_t min_ticks, uint32_t max_depth) {
  const uint64_t word = on ? EncodeSliceFilter(min_ticks, max_depth) : 0;
  __atomic_store_n(&g_slice_filter, word, __ATOMIC_RELAXED);
}

HOOKPROF_NO_INSTRUMENT Mode GetMode() { return ModeOf(LoadControl()); }

const char* ModeName(Mode mode) {
  switch (mode) {
    case kModeOff:
      return "off";
    case kModeProfile:
      return "profile";
    case kModeTrace:
      return "trace";
    case kModeTiming:
      return "timing";
  }
  return "unknown";
}

bool ParseMode(const char* name, Mode* mode) {
  for (Mode m : {kModeOff, kModeProfile, kModeTrace, kModeTiming}) {
    if (strcmp(name, ModeName(m)) == 0) {
      *mode = m;
      return true;
    }
  }
  return false;
}

HOOKPROF_NO_INSTRUMENT uint32_t RetiredCreations(RetiredCreation* out, uint32_t max,
                                                 uint64_t* lost) {
  LockRetired();
  const uint32_t n = g_retired_used < max ? g_retired_used : max;
  for (uint32_t i = 0; i < n; ++i) out[i] = g_retired[i];
  if (lost != nullptr) *lost = g_retired_lost;
  UnlockRetired();
  return n;
}

HOOKPROF_NO_INSTRUMENT ThreadState* RegistryHead() {
  return __atomic_load_n(&g_head, __ATOMIC_ACQUIRE);
}

HOOKPROF_NO_INSTRUMENT void SetThreadRegisteredCallback(void (*callback)(ThreadState*)) {
  __atomic_store_n(&g_registered_callback, callback, __ATOMIC_RELEASE);
}

HOOKPROF_NO_INSTRUMENT void SetThreadExitCallback(void (*callback)(ThreadState*)) {
  __atomic_store_n(&g_exit_callback, callback, __ATOMIC_RELEASE);
}

HOOKPROF_NO_INSTRUMENT ScopedGuard::ScopedGuard() : state_(CurrentThreadState()) {
  // The shared internal state is guarded for good and must not be written by its threads.
  if (state_ == &g_internal_state) state_ = nullptr;
  if (state_ != nullptr) ++state_->guard;
}

HOOKPROF_NO_INSTRUMENT ScopedGuard::~ScopedGuard() {
  if (state_ != nullptr) --state_->guard;
}

// Grows the (parent, fn) index into the other table region. Runs inside a hook, rarely
// (log2(paths) times per thread), touching only memory that was reserved at registration.
HOOKPROF_NO_INSTRUMENT void GrowTable(ThreadState* s) {
  const uint32_t new_slots = (s->table_mask + 1) * 2;
  if (new_slots > kMaxTableSlots) return;  // Full-size table: load stays <= 0.5 by kMaxNodes.
  char* base = reinterpret_cast<char*>(s) + kStateBytes + kStackBytes + kNodeBytes;
  const uint32_t region = s->table_region ^ 1;
  auto* table = reinterpret_cast<uint32_t*>(base + region * kTableBytes);
  memset(table, 0, new_slots * sizeof(uint32_t));
  const uint32_t mask = new_slots - 1;
  for (uint32_t id = 2; id < s->node_count; ++id) {
    const Node& n = s->nodes[id];
    uint32_t i = PathHash(n.parent, n.fn) & mask;
    while (table[i] != 0) i = (i + 1) & mask;
    table[i] = id;
  }
  s->table = table;
  s->table_mask = mask;
  s->table_region = region;
}

}  // namespace instrument
}  // namespace hookprof
