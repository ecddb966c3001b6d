// Coverage counters: shards, edge registration, and the readers' sums.
//
// Everything here may run before main (modules register their guards from their constructors,
// and instrumented constructors hit edges), so all state is constant-initialized and memory
// comes from mmap, never malloc.
#include "instrument/coverage/coverage.h"

#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>

#include "instrument/attributes.h"
#include "instrument/coverage/coverage_shard.h"
#include "instrument/stack_table.h"

namespace hookprof {
namespace instrument {
namespace coverage {

__thread Shard* t_shard __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

constexpr uint32_t kMaxShards = 4096;
constexpr uint32_t kMaxModules = 4096;

struct Module {
  const uint32_t* guards;
  const uintptr_t* pcs;  // The module's pc-table once registered.
  uint32_t first_edge;
  uint32_t edges;
};

// Recursion guard: set while this thread is inside a slow path, whose own calls (mmap,
// pthread_setspecific) must not count or recurse if hookprof was built with coverage.
__thread int t_busy __attribute__((tls_model("initial-exec"))) = 0;

SpinLock g_lock;  // Shards list, modules, the shared shard's tables.
Shard* g_shards[kMaxShards];
uint32_t g_num_shards = 0;
// Counts of threads that found every shard taken: updated with atomics under g_lock.
Shard g_shared;
Module g_modules[kMaxModules];
uint32_t g_num_modules = 0;
uint32_t g_next_edge = 1;
uintptr_t* g_edge_pcs = nullptr;  // kMaxCoverageEdges + 1 entries each, mapped at first use.
uint8_t* g_edge_flags = nullptr;
uint64_t g_unregistered = 0;
uint64_t g_reentered = 0;
bool g_trace_pc_seen = false;
pthread_key_t g_key;
pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

HOOKPROF_NO_INSTRUMENT void* MapZeroed(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// A thread is gone: its shard (and its counts) goes to the next new thread.
HOOKPROF_NO_INSTRUMENT void ReleaseShard(void* shard) {
  t_shard = nullptr;
  __atomic_store_n(&static_cast<Shard*>(shard)->owned, 0, __ATOMIC_RELEASE);
}

// In a forked child only the forking thread survives: free the others' shards.
HOOKPROF_NO_INSTRUMENT void AfterForkInChild() {
  const uint32_t n = __atomic_load_n(&g_num_shards, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n; ++i) {
    if (g_shards[i] != t_shard) __atomic_store_n(&g_shards[i]->owned, 0, __ATOMIC_RELEASE);
  }
}

HOOKPROF_NO_INSTRUMENT void MakeKey() {
  pthread_key_create(&g_key, ReleaseShard);
  pthread_atfork(nullptr, nullptr, AfterForkInChild);
}

// The calling thread's shard: a free one, or a new one; nullptr when all kMaxShards are taken
// (the thread then counts into g_shared with atomics).
HOOKPROF_NO_INSTRUMENT Shard* AcquireShard() {
  pthread_once(&g_key_once, MakeKey);
  Shard* s = nullptr;
  g_lock.Lock();
  for (uint32_t i = 0; i < g_num_shards && s == nullptr; ++i) {
    if (__atomic_load_n(&g_shards[i]->owned, __ATOMIC_ACQUIRE) == 0) {
      s = g_shards[i];
      s->owned = 1;
    }
  }
  if (s == nullptr && g_num_shards < kMaxShards) {
    s = static_cast<Shard*>(MapZeroed(sizeof(Shard)));
    if (s != nullptr) {
      s->owned = 1;
      g_shards[g_num_shards] = s;
      __atomic_store_n(&g_num_shards, g_num_shards + 1, __ATOMIC_RELEASE);
    }
  }
  g_lock.Unlock();
  if (s != nullptr) {
    t_shard = s;
    pthread_setspecific(g_key, s);
  }
  return s;
}

HOOKPROF_NO_INSTRUMENT uint64_t* PageFor(Shard* s, uint32_t page_index) {
  uint64_t* page = __atomic_load_n(&s->pages[page_index], __ATOMIC_ACQUIRE);
  if (page == nullptr) {
    page = static_cast<uint64_t*>(MapZeroed(kPageEdges * sizeof(uint64_t)));
    if (page != nullptr) __atomic_store_n(&s->pages[page_index], page, __ATOMIC_RELEASE);
  }
  return page;
}

HOOKPROF_NO_INSTRUMENT void NoteEdgePc(uint32_t id, uintptr_t pc) {
  uintptr_t* pcs = __atomic_load_n(&g_edge_pcs, __ATOMIC_ACQUIRE);
  if (pcs != nullptr && __atomic_load_n(&pcs[id], __ATOMIC_RELAXED) == 0) {
    __atomic_store_n(&pcs[id], pc, __ATOMIC_RELAXED);
  }
}

HOOKPROF_NO_INSTRUMENT void NoteDropped(Shard* s) {
  if (s != nullptr) {
    __atomic_store_n(&s->dropped, s->dropped + 1, __ATOMIC_RELAXED);
  } else {
    __atomic_fetch_add(&g_reentered, 1, __ATOMIC_RELAXED);
  }
}

// Probes `s`'s PC table; inserts `pc` if absent. Only the owner (or g_lock's holder, for the
// shared shard) writes a table.
HOOKPROF_NO_INSTRUMENT PcSlot* FindOrInsertPc(Shard* s, uintptr_t pc) {
  PcSlot* slots = __atomic_load_n(&s->pc_slots, __ATOMIC_ACQUIRE);
  if (slots == nullptr) {
    slots = static_cast<PcSlot*>(MapZeroed(kPcSlots * sizeof(PcSlot)));
    if (slots == nullptr) return nullptr;
    __atomic_store_n(&s->pc_slots, slots, __ATOMIC_RELEASE);
  }
  for (uint32_t n = 0, i = PcHash(pc); n < kPcSlots; ++n, i = (i + 1) & (kPcSlots - 1)) {
    PcSlot* slot = &slots[i];
    const uintptr_t at = __atomic_load_n(&slot->pc, __ATOMIC_RELAXED);
    if (at == pc) return slot;
    if (at != 0) continue;
    if (s->pc_used >= kPcSlots / 4 * 3) return nullptr;  // Keep probes short: full.
    ++s->pc_used;
    // Readers that see the PC see a zero count, never another PC's.
    __atomic_store_n(&slot->pc, pc, __ATOMIC_RELEASE);
    return slot;
  }
  return nullptr;
}

class Busy {
 public:
  HOOKPROF_NO_INSTRUMENT Busy() : entered_(t_busy == 0) {
    if (entered_) t_busy = 1;
  }
  HOOKPROF_NO_INSTRUMENT ~Busy() {
    if (entered_) t_busy = 0;
  }
  HOOKPROF_NO_INSTRUMENT bool entered() const { return entered_; }

 private:
  const bool entered_;
};

}  // namespace

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void GuardSlow(uint32_t id, uintptr_t return_address) {
  if (id == 0) return;  // A guard no module registered (its constructor has not run yet).
  Busy busy;
  if (!busy.entered()) {
    __atomic_fetch_add(&g_reentered, 1, __ATOMIC_RELAXED);
    return;
  }
  Shard* s = t_shard != nullptr ? t_shard : AcquireShard();
  Shard* target = s != nullptr ? s : &g_shared;
  if (s == nullptr) g_lock.Lock();
  uint64_t* page = PageFor(target, id >> kPageBits);
  if (page == nullptr) {
    NoteDropped(s);
  } else {
    uint64_t* counter = &page[id & (kPageEdges - 1)];
    if (*counter == 0) NoteEdgePc(id, return_address - 1);
    if (s != nullptr) {
      Bump(counter);
    } else {
      __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    }
  }
  if (s == nullptr) g_lock.Unlock();
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void TracePcSlow(uintptr_t pc) {
  Busy busy;
  if (!busy.entered()) {
    __atomic_fetch_add(&g_reentered, 1, __ATOMIC_RELAXED);
    return;
  }
  if (!__atomic_load_n(&g_trace_pc_seen, __ATOMIC_RELAXED)) {
    __atomic_store_n(&g_trace_pc_seen, true, __ATOMIC_RELAXED);
  }
  Shard* s = t_shard != nullptr ? t_shard : AcquireShard();
  Shard* target = s != nullptr ? s : &g_shared;
  if (s == nullptr) g_lock.Lock();
  PcSlot* slot = FindOrInsertPc(target, pc);
  if (slot == nullptr) {
    NoteDropped(s);
  } else if (s != nullptr) {
    Bump(&slot->hits);
  } else {
    __atomic_fetch_add(&slot->hits, 1, __ATOMIC_RELAXED);
  }
  if (s == nullptr) g_lock.Unlock();
}

HOOKPROF_NO_INSTRUMENT void RegisterGuards(uint32_t* start, uint32_t* stop) {
  // Called at least once per module, possibly more with the same range.
  if (start == stop || *start != 0) return;
  Busy busy;
  g_lock.Lock();
  if (g_edge_pcs == nullptr) {
    g_edge_flags = static_cast<uint8_t*>(MapZeroed(kMaxCoverageEdges + 1));
    __atomic_store_n(
        &g_edge_pcs,
        static_cast<uintptr_t*>(MapZeroed((kMaxCoverageEdges + 1) * sizeof(uintptr_t))),
        __ATOMIC_RELEASE);
  }
  const uint32_t first = g_next_edge;
  uint32_t next = first;
  for (uint32_t* g = start; g < stop; ++g) {
    if (next <= kMaxCoverageEdges && g_edge_pcs != nullptr) {
      *g = next++;
    } else {
      ++g_unregistered;
    }
  }
  if (g_num_modules < kMaxModules) {
    g_modules[g_num_modules++] = Module{start, nullptr, first, next - first};
  }
  __atomic_store_n(&g_next_edge, next, __ATOMIC_RELEASE);
  g_lock.Unlock();
}

HOOKPROF_NO_INSTRUMENT void RegisterPcTable(const uintptr_t* begin, const uintptr_t* end) {
  const uint32_t n = static_cast<uint32_t>((end - begin) / 2);
  Busy busy;
  g_lock.Lock();
  // Called right after the same module's guard init (same constructor), maybe repeatedly.
  Module* m = nullptr;
  for (uint32_t i = g_num_modules; i > 0; --i) {
    Module& candidate = g_modules[i - 1];
    if (candidate.pcs == begin) break;  // Already registered.
    if (candidate.pcs == nullptr && candidate.edges == n) {
      m = &candidate;
      break;
    }
  }
  if (m != nullptr && g_edge_pcs != nullptr) {
    m->pcs = begin;
    for (uint32_t k = 0; k < n; ++k) {
      __atomic_store_n(&g_edge_pcs[m->first_edge + k], begin[2 * k], __ATOMIC_RELAXED);
      g_edge_flags[m->first_edge + k] = static_cast<uint8_t>(begin[2 * k + 1] & kEdgeFunctionEntry);
    }
  }
  g_lock.Unlock();
}

}  // namespace coverage

namespace {

void AddShard(const coverage::Shard& s, CoverageCounts* out) {
  const uint32_t edges = static_cast<uint32_t>(out->edge_hits.size());
  for (uint32_t p = 0; p < coverage::kPages && p * coverage::kPageEdges < edges; ++p) {
    const uint64_t* page = __atomic_load_n(&s.pages[p], __ATOMIC_ACQUIRE);
    if (page == nullptr) continue;
    const uint32_t base = p * coverage::kPageEdges;
    const uint32_t limit = std::min(edges - base, coverage::kPageEdges);
    for (uint32_t j = 0; j < limit; ++j) {
      out->edge_hits[base + j] += __atomic_load_n(&page[j], __ATOMIC_RELAXED);
    }
  }
  const coverage::PcSlot* slots = __atomic_load_n(&s.pc_slots, __ATOMIC_ACQUIRE);
  if (slots != nullptr) {
    for (uint32_t i = 0; i < coverage::kPcSlots; ++i) {
      const uintptr_t pc = __atomic_load_n(&slots[i].pc, __ATOMIC_ACQUIRE);
      if (pc != 0) out->pc_hits[pc] += __atomic_load_n(&slots[i].hits, __ATOMIC_RELAXED);
    }
  }
  out->dropped += __atomic_load_n(&s.dropped, __ATOMIC_RELAXED);
}

}  // namespace

void CollectCoverage(CoverageCounts* out) {
  using namespace coverage;
  // Callbacks from this code (hookprof built with coverage) must not take g_lock again.
  Busy busy;
  *out = CoverageCounts();
  g_lock.Lock();
  const uint32_t edges = g_next_edge;
  out->edge_hits.assign(edges, 0);
  out->edge_pcs.assign(edges, 0);
  out->edge_flags.assign(edges, 0);
  if (g_edge_pcs != nullptr) {
    for (uint32_t i = 1; i < edges; ++i) {
      out->edge_pcs[i] = __atomic_load_n(&g_edge_pcs[i], __ATOMIC_RELAXED);
      out->edge_flags[i] = g_edge_flags[i];
    }
  }
  for (uint32_t i = 0; i < g_num_modules; ++i) {
    const Module& m = g_modules[i];
    out->modules.push_back(CoverageModule{m.first_edge, m.edges, m.pcs != nullptr});
  }
  for (uint32_t i = 0; i < g_num_shards; ++i) AddShard(*g_shards[i], out);
  AddShard(g_shared, out);
  out->dropped += __atomic_load_n(&g_reentered, __ATOMIC_RELAXED);
  out->unregistered_edges = g_unregistered;
  g_lock.Unlock();
}

bool CoverageActive() {
  return __atomic_load_n(&coverage::g_next_edge, __ATOMIC_ACQUIRE) > 1 ||
         __atomic_load_n(&coverage::g_trace_pc_seen, __ATOMIC_RELAXED);
}

}  // namespace instrument
}  // namespace hookprof
