// Per-thread recording state: a shadow stack and a calling-context tree (CCT).
//
// Data flow: the compiler hooks (hooks.cc) push and pop frames on the current thread's shadow
// stack and count one call on the CCT node of the current call path. The CPU sampler's SIGPROF
// handler (cpu_sampler.cc) charges one sample to the node on top of the stack. The runtime
// reads every thread's nodes from another thread to build profiles.
//
// Concurrency contract:
//   * Only the owning thread writes its ThreadState (the SIGPROF handler runs on the owner).
//   * A node's `fn` and `parent` never change once published; `published_nodes` is stored with
//     release order after the node is written, so a reader that loads it with acquire order
//     sees complete nodes [0, published_nodes).
//   * `calls` and `samples` are written with relaxed stores by the owner and read with relaxed
//     loads elsewhere: a reader sees a value that was current at some recent instant, which is
//     all a profile needs; no read-modify-write instruction is ever used on the hot path.
//   * ThreadStates are never freed: a thread that exits keeps its data (marked not alive); past
//     kKeptDeadStates exited threads, a new thread takes over a dead one's state and its data,
//     so memory follows the peak of live threads, not the number ever started.
//
//   registry head --> ThreadState(tid 812) --> ThreadState(tid 790) --> ... (push-only list)
//                       |  stack[depth]: {fn, node, cfa} ...   (owner only)
//                       |  nodes[0..published): {fn, call_site, parent, sites, calls, samples}
//                       |     0 = root, 1 = "paths dropped: node table full"
//                       |  pc_samples[0..published): {pc, node, count}  (SIGPROF handler)
//
// Memory: each thread reserves one MAP_NORESERVE mapping; pages are touched only as the stack
// deepens and the tree grows, so memory follows distinct call paths, not calls.
#ifndef HOOKPROF_INSTRUMENT_STATE_THREAD_STATE_H_
#define HOOKPROF_INSTRUMENT_STATE_THREAD_STATE_H_

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "instrument/attributes.h"
#include "instrument/state/event_words.h"
#include "instrument/state/latency_histogram.h"

namespace hookprof {
namespace instrument {

// Frames tracked per thread. Deeper calls are counted (truncated_frames), not recorded.
inline constexpr uint32_t kMaxDepth = 4096;
// CCT nodes per thread. Calls on paths beyond this land on kOverflowNode, counted.
inline constexpr uint32_t kMaxNodes = 1u << 20;
inline constexpr uint32_t kRootNode = 0;
inline constexpr uint32_t kOverflowNode = 1;
// Pseudo function addresses of the two special nodes.
inline constexpr uintptr_t kRootFn = 0;
inline constexpr uintptr_t kOverflowFn = 1;
// The function of the summary node under the deepest tracked frame: calls deeper than
// kMaxDepth are counted there (their functions are not known), one node per capped path.
inline constexpr uintptr_t kDeepFn = 2;

// Labels (labels.h): the function word of a label set's pseudo-frame, the set's id with bit 62
// set, which no function entry has (user-space addresses are below 2^47) and no walked frame
// has (bit 63, unwind.h). A label scope pushes one on the shadow stack, so every path below it
// is a path of that set: calls and wall time stay exact per set with nothing added to the hooks.
inline constexpr uintptr_t kLabelBit = uintptr_t{1} << 62;
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uintptr_t LabelFn(uint32_t set) {
  return kLabelBit | set;
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE bool IsLabelFn(uintptr_t fn) {
  return (fn >> 62) == 1;
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint32_t LabelSetOfFn(uintptr_t fn) {
  return static_cast<uint32_t>(fn);
}
// Label scopes a thread keeps, innermost last; deeper ones are counted (lost_label_scopes).
inline constexpr uint32_t kMaxLabelScopes = 32;
struct LabelScopeEntry {
  uint32_t set;    // Label set id (labels.h); the innermost one is the thread's current set.
  uint32_t sp;     // Frame::sp of the scope's pseudo-frame (also when none was pushed).
  uint32_t frame;  // 1 + the pseudo-frame's index on the shadow stack; 0 while it has none.
};

// Set in ThreadState::guard while an enter hook (or a slow exit) updates the thread's state. A
// signal handler that runs instrumented code in that window would otherwise write the frame the
// interrupted hook is writing, or lose its increment: its hooks see the bit, return, and count
// the call in interrupted_calls.
inline constexpr uint32_t kHookBusy = 0x80000000u;

// A node is one call path step: (parent path, callee). Recursion keeps the tree small because the
// call site is not part of the key; the node keeps the first call site it saw, which is the line
// of the call in the caller for every call when there is only one (see `sites`).
struct Node {
  uintptr_t fn;         // Function entry address (this_fn of the hook). Immutable.
  uintptr_t call_site;  // Return address into the caller of the first call. Immutable.
  uint32_t parent;      // Parent node index. Immutable.
  uint32_t hot_child;   // Last child entered from here: skips the hash lookup. Owner only.
  // 1 while every call seen came from `call_site`; 2 once another call site was seen (by the hooks'
  // slow path or the CPU sampler, which compare the frames they see). Relaxed.
  uint32_t sites;
  // Timing mode: 1 + the index of this path's function's latency histogram in its thread's
  // table; 0 before the path's first timed call ends. Owner only.
  uint32_t latency;
  uint64_t calls;    // Calls that ended on this path. Relaxed.
  uint64_t samples;  // CPU samples taken while this path was on top. Relaxed.
  // Timing and trace modes: TSC ticks between entry and exit of the calls on this path that
  // ended (inclusive of callees). Relaxed.
  uint64_t wall_ticks;
};

struct Frame {
  uintptr_t fn;
  uintptr_t call_site;  // Return address into the caller, as the hook received it.
  uint32_t node;
  // Low 32 bits of the hook's frame address at entry. A frame strictly deeper on the machine
  // stack than a new call, or at the same depth but entered from another call site, was skipped
  // by an exception or longjmp (clang runs no exit hooks while unwinding) and is popped. Same
  // depth and same call site is the normal case of a function inlined into its caller: GCC
  // calls both hooks from the caller's frame with the caller's return address.
  uint32_t sp;
  // TSC at entry, in timing and trace modes (stale otherwise: see g_timed_since).
  uint64_t tsc;
};

// off: hooks return after one well-predicted branch. profile: exact calls per call path and
// sampled CPU, no timestamps. trace: profile, plus every enter and exit with a timestamp in the
// thread's trace ring, plus timing's wall time. timing: profile, plus the wall time of every call
// (a TSC read at entry and at exit) added to its call path. The timed modes are those >= trace.
enum Mode : uint32_t { kModeOff = 0, kModeProfile = 1, kModeTrace = 2, kModeTiming = 3 };

// TSC when the program last entered a timed mode: a frame whose entry TSC is older was entered
// while no clock was read (its tsc is stale), and its exit adds nothing. Relaxed.
extern uint64_t g_timed_since __attribute__((visibility("hidden")));
// The same, for readers outside this library.
uint64_t TimedSince();

// "off", "profile", "trace": the names the environment, the mode endpoint and the index use.
const char* ModeName(Mode mode);
// The mode a name stands for; false for anything else.
bool ParseMode(const char* name, Mode* mode);

// Trace ring events: one word each, laid out in event_words.h.
static_assert(kMaxNodes <= kEventNodeMask + 1, "node indexes must fit in an event");

// Traces filtered in the hook: while a trace window with a duration (or depth) filter is open,
// the exit hooks of the timed modes write each call that passes it as one complete slice, so a
// busy program's trace holds its slow calls only and nothing overflows. The filter is one word
// (EncodeSliceFilter in event_words.h).
extern uint64_t g_slice_filter __attribute__((visibility("hidden")));
static_assert(kMaxDepth <= kSliceDepthMask, "depths must fit the filter word");
// Sets the filter (SetSliceFilter(false, ...) removes it); ticks are capped to what fits.
void SetSliceFilter(bool on, uint64_t min_ticks, uint32_t max_depth);

// One complete call: entry and exit TSC (entry is the time timing began when the call started
// before it), its path and its depth on the shadow stack (1 = outermost).
struct SliceRecord {
  uint64_t begin;
  uint64_t end;
  uint32_t node;
  uint32_t depth;
};
// Records per thread's slice ring (1.5 MiB reserved, touched as used). Readers drain it every
// 10 ms: 6.5 M slow calls a second per thread before anything is overwritten (and counted).
inline constexpr uint64_t kSliceRingRecords = uint64_t{1} << 16;

// One entry of a thread's sampled-PC table: how many CPU samples interrupted `pc` while `node`
// was on top of the shadow stack, called from `site`. Immutable once published but `count`.
struct PcSample {
  uintptr_t pc;
  uintptr_t site;  // Call site of the frame on top (the call into the sampled function), or 0.
  uint32_t node;
  uint32_t unused;
  uint64_t count;  // Relaxed.
};
// Distinct (node, PC) pairs per thread; later pairs are counted in lost_pcs. The index has
// twice as many slots (load <= 0.5) of 16 bits each.
inline constexpr uint32_t kMaxPcSamples = (1u << 15) - 1;
inline constexpr uint32_t kPcIndexSlots = 1u << 16;

struct ThreadState {
  // --- hot: read and written by the owner on every hook ---
  uint32_t depth;       // Frames on the stack, including truncated ones beyond kMaxDepth.
  uint32_t guard;       // Non-zero while hookprof's own code runs on this thread: hooks return.
                        // kHookBusy is set while a hook updates the state (see there).
  uint32_t epoch;       // Control epoch the stack belongs to; a mismatch means "stack is stale".
  uint32_t node_count;  // Owner's copy of published_nodes.
  Frame* stack;
  Node* nodes;
  uint32_t* table;  // Open addressing: (parent, fn) -> node index; 0 = empty.
  uint32_t table_mask;
  uint32_t table_region;  // Which of the two table regions is in use.

  // --- trace ring (trace mode): the owner writes events, then publishes ring_head with release
  // order; readers copy [head - capacity, head) and re-check head for what was overwritten.
  uint64_t* ring;          // nullptr until the first event; mapped on the owner's slow path.
  uint64_t ring_mask;      // Capacity in events - 1 (a power of two).
  uint64_t ring_head;      // Events ever written on this thread.
  uint64_t ring_high;      // TSC >> 42 of the last sync event.
  uint64_t ring_failures;  // Events or slices lost because a ring could not be mapped.

  // --- slice ring (a filtered trace window is open: g_slice_filter): complete calls written by
  // the exit hooks; the owner writes a record, then publishes slice_head with release order.
  SliceRecord* slices;  // nullptr until the first slice; mapped on the owner's slow path.
  uint64_t slice_mask;  // Capacity in records - 1 (a power of two).
  uint64_t slice_head;  // Records ever written on this thread.

  // --- counters: owner writes relaxed, readers load relaxed ---
  uint64_t truncated_frames;   // Entries deeper than kMaxDepth.
  uint64_t unmatched_exits;    // Exit hooks with no matching frame.
  uint64_t resyncs;            // Frames popped without an exit hook (exceptions, longjmp).
  uint64_t dropped_paths;      // New call paths that found the node table full.
  uint64_t interrupted_calls;  // Calls from signal handlers that interrupted a hook: not recorded.
  uint64_t cut_walks;          // Stack walks that found nothing to graft (unwind.h).

  // --- published for readers ---
  uint32_t published_nodes;  // Release store by the owner; acquire load by readers.
  int tid;
  int alive;              // kStateAlive until the thread exits (see there). Acquire/release.
  int internal;           // hookprof's own threads: never recorded, never listed.
  char name[16];          // Captured when the thread exits (live threads: read /proc).
  uint64_t thread_index;  // 1, 2, ... in order of registration.

  // --- thread creation: written by thread_create.cc alone, on the new thread before its first
  // hook; the creating thread and its node at the time ---
  const ThreadState* creator;  // Release store after creator_node; nullptr if unknown.
  uint32_t creator_node;

  // --- CPU sampler: owned by cpu_sampler.cc alone (armed on registration, deleted on exit
  // through the thread callbacks) ---
  int timer_state;  // 0 none, 1 creating, 2 armed, 3 deleted. CAS.
  timer_t timer;
  // The thread's CPU clock when its timer was armed, the timer's period, and the periods its
  // samples stood for since: at exit, the periods no signal reached are counted.
  int64_t timer_armed_cpu_ns;
  int64_t timer_period_ns;
  uint64_t sampled_periods;  // Written by the SIGPROF handler. Relaxed.
  // Samples per (node, interrupted PC), written by the SIGPROF handler only, dense in order of
  // first appearance; `published_pc_samples` is stored with release order after an entry is
  // written (readers load it with acquire order); counts are relaxed.
  PcSample* pc_samples;
  uint16_t* pc_index;             // Open addressing: hash(node, pc) -> entry index + 1.
  uint32_t published_pc_samples;  // Entries in use.
  uint64_t lost_pcs;              // Samples whose PC found the table full (node still charged).
  uint64_t own_work_samples;      // Samples in hookprof's own work on this thread (a guard).
  uint64_t coalesced_samples;     // Timer periods the kernel merged into a later signal.
  uint64_t unsampled_periods;     // Timer periods no signal reached before the thread exited.

  // --- timing mode: latency histograms, written by the exit hooks (owner) ---
  LatencyHot* latency_hot;  // kMaxLatencyHistograms each, in the thread's mapping.
  LatencyHistogram* latency;
  uint32_t* latency_index;  // Open addressing: hash(fn) -> histogram index + 1. Owner only.
  // Histograms in use: release store by the owner once one is set up, acquire load by readers.
  uint32_t latency_used;
  uint64_t lost_latency;  // Timed calls whose function found no histogram left. Relaxed.

  uint64_t takeovers;  // Times a new thread took this state over from an exited one. Relaxed.

  // --- labels (labels.h): the thread's label scopes, written by the owner only ---
  uint32_t label_base;     // The set the thread started with (its creator's), 0 = none.
  uint32_t label_depth;    // Scopes entered and not left, kept or not (kMaxLabelScopes).
  uint32_t label_base_sp;  // Frame::sp of its pseudo-frame (in the thread's start routine).
  uint32_t label_current;  // The current set, for readers on other threads. Relaxed.
  // Label pseudo-frames on the shadow stack now: a slice's depth (MaybeSlice) leaves them out.
  uint32_t label_frames;
  uint64_t lost_label_scopes;  // Scopes not applied: too deep, or entered inside a hook.
  LabelScopeEntry label_scopes[kMaxLabelScopes];

  ThreadState* next;  // Registry list, push-only.
};

// ThreadState::alive. A state whose thread exited is kStateDead; past kKeptDeadStates of them,
// a new thread takes one over (kStateTakenOver while it resets it) and it is alive again, with
// the data of every thread that had it (RegisterCurrentThread).
inline constexpr int kStateDead = 0;
inline constexpr int kStateAlive = 1;
inline constexpr int kStateTakenOver = 2;
inline constexpr uint64_t kKeptDeadStates = 256;

// Thread creations recorded on states that were taken over (the threadcreate profile keeps
// them): the creator's state and node, and how many threads it created there.
struct RetiredCreation {
  const ThreadState* creator;
  uint32_t node;
  uint64_t count;
};
inline constexpr uint32_t kMaxRetiredCreations = 4096;
// Copies up to `max` of them into `out`; `lost`: creations beyond kMaxRetiredCreations distinct
// (creator, node) pairs, counted only. Any thread.
uint32_t RetiredCreations(RetiredCreation* out, uint32_t max, uint64_t* lost);

// Layout of a recorded thread's mapping: the state, then its stack, then its nodes. The hot
// path computes the stack and node addresses from the state's address (no dependent loads).
inline constexpr size_t kStateRegionBytes = 4096;
inline constexpr size_t kStackRegionBytes = (sizeof(Frame) * kMaxDepth + 4095) & ~size_t{4095};
static_assert(sizeof(ThreadState) <= kStateRegionBytes, "state must fit its region");

HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE Frame* StackOf(ThreadState* s) {
  return reinterpret_cast<Frame*>(reinterpret_cast<char*>(s) + kStateRegionBytes);
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE Node* NodesOf(ThreadState* s) {
  return reinterpret_cast<Node*>(reinterpret_cast<char*>(s) + kStateRegionBytes +
                                 kStackRegionBytes);
}

// The control word, one relaxed load per hook: mode in the low 8 bits, epoch above. The epoch
// changes when recording resumes after `off`, so stacks built before are discarded lazily.
// Hidden: addressed directly (RIP-relative), not through the GOT, from the hooks.
extern uint64_t g_control __attribute__((visibility("hidden")));

// The mode byte alone: `off` costs one compare with memory and a branch.
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE bool RecordingOff() {
  return __atomic_load_n(reinterpret_cast<const uint8_t*>(&g_control), __ATOMIC_RELAXED) ==
         kModeOff;  // x86-64 is little-endian: the low byte is the mode.
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint64_t LoadControl() {
  // Relaxed: the word is written rarely and nothing else is published through it.
  return __atomic_load_n(&g_control, __ATOMIC_RELAXED);
}

// The control word's parts, named once (they compile to the mask and the shift).
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE Mode ModeOf(uint64_t control) {
  return static_cast<Mode>(control & 0xff);
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint32_t EpochOf(uint64_t control) {
  return static_cast<uint32_t>(control >> 8);
}
// Trace and timing: the hooks read the TSC at every call.
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE bool IsTimed(Mode mode) { return mode >= kModeTrace; }
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE bool IsTimed(uint64_t control) {
  return IsTimed(ModeOf(control));
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint64_t MakeControl(Mode mode, uint64_t epoch) {
  return (epoch << 8) | mode;
}

// The current thread's state, or nullptr before its first hook.
extern __thread ThreadState* t_state __attribute__((tls_model("initial-exec")));

// Slow path of the first hook on a thread: maps and registers its state. Returns nullptr while
// registration is already under way on this thread (a hook reached from inside it).
ThreadState* RegisterCurrentThread();

// A thread's state, mapped and empty (stack, nodes, table and sample rings in one mapping) but in
// no registry: no profile sees it (instrument/cost records into one). nullptr if mmap failed.
ThreadState* MapState(int tid);
// Unmaps a MapState that was never registered.
void UnmapState(ThreadState* s);

// The current thread's state, registering it if needed. Not async-signal-safe.
ThreadState* CurrentThreadState();

// Marks the calling thread as one of hookprof's own: hooks on it are ignored from now on, and
// it blocks every signal but faults (the program's signals are for the program's threads).
void MarkCurrentThreadInternal();

// hookprof's threads take none of the program's signals (see MarkCurrentThreadInternal). A new
// thread inherits its creator's signal mask: one created while this is in scope blocks them from
// its first instruction, before it runs a line of its own (a signal the program sends itself at
// start would otherwise find it unblocked). The creator's mask comes back at the end of the
// scope; a signal sent meanwhile is delivered then.
class ProgramSignalsBlocked {
 public:
  ProgramSignalsBlocked();
  ~ProgramSignalsBlocked();
  ProgramSignalsBlocked(const ProgramSignalsBlocked&) = delete;
  ProgramSignalsBlocked& operator=(const ProgramSignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

// The mode in force (instrument/mode.h switches it).
Mode GetMode();

// Events per thread ring, a power of two, for rings mapped from now on (default 1 << 20:
// 8 MiB per tracing thread). Returns the value in force.
uint64_t SetTraceRingEvents(uint64_t events);
uint64_t TraceRingEvents();

// Maps the calling thread's ring (owner's slow path). nullptr if it cannot.
uint64_t* MapTraceRing(ThreadState* s);
// The same for its slice ring.
SliceRecord* MapSliceRing(ThreadState* s);

// Oldest-first iteration is not needed: the list is newest first. Safe from any thread.
ThreadState* RegistryHead();

// Called (outside any lock, on the new thread) after a thread registers. One callback.
void SetThreadRegisteredCallback(void (*callback)(ThreadState*));
// Called on a recorded thread as it exits, after `alive` is cleared. One callback.
void SetThreadExitCallback(void (*callback)(ThreadState*));

// Scoped guard for hookprof's control-plane code running on a user thread (Use(), the atexit
// writer): hooks reached from inside it are ignored on this thread.
class ScopedGuard {
 public:
  HOOKPROF_NO_INSTRUMENT ScopedGuard();
  HOOKPROF_NO_INSTRUMENT ~ScopedGuard();
  ScopedGuard(const ScopedGuard&) = delete;
  ScopedGuard& operator=(const ScopedGuard&) = delete;

 private:
  ThreadState* state_;
};

// Hash of a call path step (parent node, callee), shared by the hooks and GrowTable.
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint32_t PathHash(uint32_t parent, uintptr_t fn) {
  return static_cast<uint32_t>(((fn ^ (uint64_t{parent} << 40)) * 0x9E3779B97F4A7C15ull) >> 32);
}

// Marks `n` as called from more than one call site (owner thread: a hook or a signal handler).
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE void NoteSecondSite(Node* n) {
  if (n->sites != 2) __atomic_store_n(&n->sites, 2u, __ATOMIC_RELAXED);
}

// Marks the nodes whose frame's call site differs from their first (NoteSecondSite): whoever
// records a stack calls this first (the hooks' fast path does not look at call sites), so a
// recorded call's line is never another call's. Async-signal-safe; owner only; O(depth).
HOOKPROF_NO_INSTRUMENT inline void NoteCallSites(ThreadState* s) {
  uint32_t d = s->depth;
  if (d > kMaxDepth) d = kMaxDepth;
  __atomic_signal_fence(__ATOMIC_ACQUIRE);  // Frames are written before depth (see hooks.cc).
  for (uint32_t i = 0; i < d; ++i) {
    const Frame& f = s->stack[i];
    Node* n = &s->nodes[f.node];
    if (n->call_site != f.call_site && f.node > kOverflowNode) NoteSecondSite(n);
  }
}

// The node of the call path (parent, fn), inserted with call site `site` if new; kOverflowNode
// (counted in dropped_paths) when the node table is full. Owner thread, with no hook updating
// the tree (the caller holds kHookBusy, or is such a hook).
uint32_t FindOrInsertChild(ThreadState* s, uint32_t parent, uintptr_t fn, uintptr_t site)
    __attribute__((visibility("hidden")));

// Doubles the path index into the other reserved table region (owner thread only).
void GrowTable(ThreadState* s);

// Relaxed accessors for readers on other threads.
HOOKPROF_NO_INSTRUMENT inline int TidOf(const ThreadState* s) {
  return __atomic_load_n(&s->tid, __ATOMIC_RELAXED);  // A taken-over state gets a new one.
}
HOOKPROF_NO_INSTRUMENT inline uint64_t LoadRelaxed(const uint64_t& v) {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}
HOOKPROF_NO_INSTRUMENT inline uint32_t PublishedNodes(const ThreadState* s) {
  return __atomic_load_n(&s->published_nodes, __ATOMIC_ACQUIRE);
}
HOOKPROF_NO_INSTRUMENT inline uint32_t PublishedPcSamples(const ThreadState* s) {
  return __atomic_load_n(&s->published_pc_samples, __ATOMIC_ACQUIRE);
}

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STATE_THREAD_STATE_H_
