// Event tables keyed by stack: (thread state, call-path node, call site) -> N running totals.
// Shared by the allocation and contention samplers, whose events are rare (sampled or already on
// a slow path), so one spinlock per table is enough; the table never allocates through malloc
// (mmap'd on first use), so it is safe inside the interposed allocator and before main().
#ifndef HOOKPROF_INSTRUMENT_STACK_TABLE_H_
#define HOOKPROF_INSTRUMENT_STACK_TABLE_H_

#include <stdint.h>
#include <sys/mman.h>

#include "instrument/attributes.h"
#include "instrument/state/thread_state.h"
#include "instrument/unwind.h"

namespace hookprof {
namespace instrument {

// A test-and-test-and-set lock for slow paths that cannot use pthread (which may be interposed).
class SpinLock {
 public:
  HOOKPROF_NO_INSTRUMENT void Lock() {
    while (__atomic_exchange_n(&word_, 1, __ATOMIC_ACQUIRE) != 0) {
      while (__atomic_load_n(&word_, __ATOMIC_RELAXED) != 0) __builtin_ia32_pause();
    }
  }
  HOOKPROF_NO_INSTRUMENT void Unlock() { __atomic_store_n(&word_, 0, __ATOMIC_RELEASE); }

 private:
  int word_ = 0;
};

struct StackKey {
  const ThreadState* state;  // nullptr: the thread had no recorded state.
  uint32_t node;             // Call-path node of that thread at the event.
  uintptr_t call_site;       // Return address of the intercepted call (0: none).
};

// The key of the calling thread's current position: its top call-path node, with the frames
// the hooks did not see walked and grafted below it (unwind.h). Threads that are hookprof's own
// or have no state yet get a null state (the call site still names the place). The function
// that `call_site` returns from must keep a frame pointer (HOOKPROF_KEEP_FRAME_POINTER), or be
// tail-called by one that was called from there, for the walk to find the call site.
// `with_site`: see CallerNode.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES inline StackKey CurrentStackKey(
    uintptr_t call_site, bool with_site = false) {
  ThreadState* s = t_state;
  if (s != nullptr && (s->internal || s->nodes == nullptr)) s = nullptr;
  uint32_t node = kRootNode;
  if (s != nullptr) {
    NoteCallSites(s);  // The stack's lines must be those of this stack (see there).
    uint32_t d = s->depth;
    if (d > kMaxDepth) d = kMaxDepth;
    node = d != 0 ? s->stack[d - 1].node : kRootNode;
    if (s->guard == 0) node = GraftedCallerNode(s, call_site, with_site);
  }
  return {s, node, call_site};
}

// Up to kCapacity - 1 distinct keys with N double totals each; ids start at 1.
// Constant-initialised, so usable from static constructors of any order. Not thread-safe: the
// owner serialises access (its SpinLock).
template <int N, uint32_t kCapacity = (1u << 16)>
class StackTable {
 public:
  struct Entry {
    StackKey key;
    double values[N];
  };

  // The id for `key`, added with zero totals if new; 0 if the table is full or unmappable.
  HOOKPROF_NO_INSTRUMENT uint32_t FindOrAdd(const StackKey& key) {
    if (entries_ == nullptr && !Map()) return 0;
    const uint64_t h =
        (reinterpret_cast<uintptr_t>(key.state) ^ (uint64_t{key.node} << 32) ^ key.call_site) *
        0x9E3779B97F4A7C15ull;
    for (uint32_t i = static_cast<uint32_t>(h >> 32) & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
      const uint32_t id = index_[i];
      if (id == 0) {
        if (count_ + 1 >= kCapacity) return 0;
        const uint32_t fresh = ++count_;
        entries_[fresh].key = key;
        for (double& v : entries_[fresh].values) v = 0;
        index_[i] = fresh;
        return fresh;
      }
      const StackKey& k = entries_[id].key;
      if (k.state == key.state && k.node == key.node && k.call_site == key.call_site) return id;
    }
  }

  HOOKPROF_NO_INSTRUMENT Entry& at(uint32_t id) { return entries_[id]; }
  HOOKPROF_NO_INSTRUMENT uint32_t size() const { return count_; }

 private:
  static constexpr uint32_t kSlots = 2 * kCapacity;  // Load factor <= 1/2.

  HOOKPROF_NO_INSTRUMENT bool Map() {
    const size_t bytes = sizeof(Entry) * kCapacity + sizeof(uint32_t) * kSlots;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return false;
    index_ = reinterpret_cast<uint32_t*>(static_cast<char*>(mem) + sizeof(Entry) * kCapacity);
    entries_ = static_cast<Entry*>(mem);
    return true;
  }

  Entry* entries_ = nullptr;
  uint32_t* index_ = nullptr;
  uint32_t count_ = 0;
};

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STACK_TABLE_H_
