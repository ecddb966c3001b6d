// Point-in-time copies of every thread's call counts and CPU samples, and their differences:
// a profile for a window [t0, t1] is Snapshot(t1) - Snapshot(t0).
//
// Threads are read while they run (see instrument/state/thread_state.h for why that is safe); a
// thread that exits keeps its data, so calls made in a window by a thread that is gone by the
// end of it are still counted.
//
// Thread-safety: Take() may run on any thread, concurrently with the hooks and other Take()s.
#ifndef HOOKPROF_RUNTIME_CORE_SNAPSHOT_H_
#define HOOKPROF_RUNTIME_CORE_SNAPSHOT_H_

#include <stdint.h>

#include <string>
#include <vector>

#include "instrument/state/thread_state.h"
#include "instrument/state/tsc.h"

namespace hookprof {
namespace runtime {

// A thread's loss counters (instrument/state/thread_counters.inc), copied.
struct ThreadCounters {
#define HOOKPROF_THREAD_COUNTER(field, loss, label, comment) uint64_t field = 0;
#include "instrument/state/thread_counters.inc"
#undef HOOKPROF_THREAD_COUNTER
  void Add(const ThreadCounters& o);
  void Subtract(const ThreadCounters& o);
  // The counters that are losses, summed.
  uint64_t Losses() const;
};

// CPU samples at one interrupted PC under one node (instrument::PcSample, copied).
struct PcCount {
  uintptr_t pc = 0;
  uintptr_t site = 0;
  uint32_t node = 0;
  uint64_t count = 0;
};

struct ThreadSnapshot {
  const instrument::ThreadState* state = nullptr;  // Identity; never freed.
  int tid = 0;
  std::string name;
  bool alive = false;
  // Alive and blocking SIGPROF when the snapshot was taken: its CPU time is not sampled.
  bool blocks_sigprof = false;
  // Per node index: [0, nodes) as published when the snapshot was taken.
  std::vector<uint64_t> calls;
  std::vector<uint64_t> samples;
  // Per node index: TSC ticks of the calls on that path that ended (timing and trace modes).
  std::vector<uint64_t> wall_ticks;
  // Per PC table entry: [0, entries) as published (entries never move, so deltas go by index).
  std::vector<PcCount> pcs;
  ThreadCounters counters;
};

// What the overflow node (calls on paths past the node table) is called wherever it is shown.
inline constexpr char kDroppedPathsFrame[] = "[hookprof: call paths dropped, node table full]";
// What a summary node of calls deeper than the shadow stack's cap (instrument::kDeepFn) is called.
inline constexpr char kDeepCallsFrame[] = "[hookprof: calls deeper than the 4096-frame cap]";

// The call path of `node` in `s`'s tree, leaf first, root and label scopes' pseudo-nodes
// excluded (the overflow node appears as itself), into `out`. Empty for a node not yet
// published. Safe on a running thread: the parent links of published nodes never change.
void CallPath(const instrument::ThreadState* s, uint32_t node, std::vector<uint32_t>* out);

// The label set (instrument/labels.h) a node's calls and samples belong to: that of its nearest
// label pseudo-node, 0 for none. A published node's set never changes.
uint32_t LabelSetOfNode(const instrument::ThreadState* s, uint32_t node);
// The node whose function a node's own time and samples belong to: itself, or for a label
// pseudo-node its nearest ancestor that is not one (the root if none).
uint32_t FunctionNodeOf(const instrument::ThreadState* s, uint32_t node);

// The code addresses of an event recorded at (thread, node, call site), leaf first: the call
// site (unless 0), then the functions on the node's call path; 0 for the overflow node (calls
// past the node budget). `s` may be null (a thread without recorded state).
std::vector<uintptr_t> EventStack(const instrument::ThreadState* s, uint32_t node,
                                  uintptr_t call_site);

// Legacy readers (pprof's text parsers, gperftools' pprof) take every address after the first
// for a return address and look up address - 1. Caller frames here are function entries, so
// they are written one byte in, where that lookup still lands inside the function.
std::vector<uintptr_t> ForLegacyReaders(std::vector<uintptr_t> pcs);

// A thread's name: from /proc while it lives, else the one saved at its exit, else its tid.
std::string ThreadName(const instrument::ThreadState* s);

struct Snapshot {
  int64_t time_nanos = 0;  // CLOCK_REALTIME when taken.
  // The TSC and CLOCK_MONOTONIC when taken; in a Delta, their differences over the window (from
  // the program's start for a whole-run delta), which convert wall_ticks to nanoseconds.
  uint64_t tsc = 0;
  int64_t mono_nanos = 0;
  std::vector<ThreadSnapshot> threads;
  uint64_t unattributed_samples = 0;

  // Every recorded (non-internal) thread, now.
  static Snapshot Take();
  // end - begin, thread by thread and node by node. Threads absent from `begin` (started in
  // the window) count from zero.
  static Snapshot Delta(const Snapshot& begin, const Snapshot& end);
  // Whether any function hook counted a call (false for a program without hooks, such as one
  // built with function-level sanitizer coverage only).
  bool HasCalls() const;
  // Whether any call path has wall time (timing or trace mode ran).
  bool HasWall() const;
  // Per thread of a Delta: each node's own wall ticks (its calls' time minus its callees').
  static std::vector<uint64_t> SelfWallTicks(const ThreadSnapshot& t);
  // Nanoseconds per TSC tick in a Delta: its own clocks' ratio, or the process's calibrated
  // rate for a window too short to give one (instrument/state/tsc.h).
  double NanosPerTick() const {
    return instrument::TscLine(instrument::TscPair{}, instrument::TscPair{tsc, mono_nanos})
        .ns_per_tick();
  }
};

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_CORE_SNAPSHOT_H_
