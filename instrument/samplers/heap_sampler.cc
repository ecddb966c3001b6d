#include "instrument/samplers/heap_sampler.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "instrument/attributes.h"
#include "instrument/stack_table.h"

// noexcept, as glibc declares malloc itself: the interposers below are noexcept too (they
// redeclare glibc's functions), and a call to a function that might throw could not be their
// tail call (it would need a handler that terminates): 3 instructions more per allocation.
extern "C" {
void* __libc_malloc(size_t) noexcept;
void __libc_free(void*) noexcept;
void* __libc_calloc(size_t, size_t) noexcept;
void* __libc_realloc(void*, size_t) noexcept;
void* __libc_memalign(size_t, size_t) noexcept;
}

namespace hookprof {
namespace instrument {
namespace {

constexpr uint64_t kMagic = 0x686f6f6b70726f66ull;  // "hookprof"
constexpr uint64_t kCheck = 0x9e3779b97f4a7c15ull;
constexpr uint32_t kMaxRecords = 1u << 20;  // Live sampled allocations.
constexpr uint32_t kRecordSlots = 2 * kMaxRecords;
constexpr uint32_t kMaxBuckets = 1u << 16;

int64_t g_rate = 512 * 1024;
uint64_t g_dropped = 0;
// Bumped by every rate change: a thread that sees a new one ends the distance it drew with the
// old rate at its next allocation (so rate 1 is exact on every thread from the change on).
uint32_t g_rate_generation = 0;

__thread int64_t t_until __attribute__((tls_model("initial-exec"))) = 0;
__thread uint32_t t_rate_generation __attribute__((tls_model("initial-exec"))) = 0;
__thread uint64_t t_rng __attribute__((tls_model("initial-exec"))) = 0;
__thread int t_in_heap __attribute__((tls_model("initial-exec"))) = 0;

struct Header {
  uint64_t magic;
  uint64_t check;  // The user pointer xor kCheck: a stray magic is not enough.
};

struct Record {
  uintptr_t user;  // 0 = empty, 1 = deleted
  void* raw;
  size_t size;
  uint32_t bucket;
  double objects, bytes;
};

// Live sampled allocations, mapped on first use; guarded by g_lock with the buckets.
Record* g_records = nullptr;
uint32_t g_record_count = 0;
// Per stack: alloc_objects, alloc_bytes, inuse_objects, inuse_bytes (estimates), then the
// same four counted in samples, unscaled.
StackTable<8, kMaxBuckets> g_buckets;
SpinLock g_lock;

HOOKPROF_NO_INSTRUMENT void Lock() { g_lock.Lock(); }
HOOKPROF_NO_INSTRUMENT void Unlock() { g_lock.Unlock(); }

// fork() while another thread holds the lock would leave the child's lock held forever: take
// it around fork, release it in both processes afterwards.
HOOKPROF_NO_INSTRUMENT void LockForFork() { Lock(); }
HOOKPROF_NO_INSTRUMENT void UnlockAfterFork() { Unlock(); }

HOOKPROF_NO_INSTRUMENT bool MapTables() {
  if (g_records != nullptr) return true;
  void* mem = mmap(nullptr, sizeof(Record) * kRecordSlots, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return false;
  g_records = static_cast<Record*>(mem);
  // Called with g_lock held and t_in_heap set: pthread_atfork's own allocation goes straight to
  // the C library.
  pthread_atfork(&LockForFork, &UnlockAfterFork, &UnlockAfterFork);
  return true;
}

HOOKPROF_NO_INSTRUMENT uint32_t HashPtr(uintptr_t p) {
  return static_cast<uint32_t>((p * 0x9E3779B97F4A7C15ull) >> 32);
}

// Next sampling distance: exponential with mean g_rate (xorshift64* for the uniform draw).
HOOKPROF_NO_INSTRUMENT int64_t NextDistance(int64_t rate) {
  if (rate <= 1) return 1;
  if (t_rng == 0) t_rng = reinterpret_cast<uintptr_t>(&t_rng) * 0x2545F4914F6CDD1Dull | 1;
  t_rng ^= t_rng >> 12;
  t_rng ^= t_rng << 25;
  t_rng ^= t_rng >> 27;
  const double u = (double((t_rng * 0x2545F4914F6CDD1Dull) >> 11) + 1.0) / 9007199254740993.0;
  const double d = -log(u) * double(rate);
  return d < 1 ? 1 : d > 1e15 ? int64_t(1e15) : int64_t(d);
}

HOOKPROF_NO_INSTRUMENT bool IsSampled(const void* p) {
  const Header* h = reinterpret_cast<const Header*>(p) - 1;
  return h->magic == kMagic && h->check == (reinterpret_cast<uintptr_t>(p) ^ kCheck);
}

// Records a sampled allocation (g_lock held). False if a table is full.
HOOKPROF_NO_INSTRUMENT bool Record_(void* user, void* raw, size_t size, uintptr_t site,
                                    int64_t rate) {
  HOOKPROF_KEEP_FRAME_POINTER();  // On the walk from CurrentStackKey (unwind.h).
  if (!MapTables() || g_record_count >= kMaxRecords) return false;
  const uint32_t b = g_buckets.FindOrAdd(CurrentStackKey(site));
  if (b == 0) return false;
  const double scale = rate <= 1 ? 1.0 : 1.0 / (1.0 - exp(-double(size) / double(rate)));
  double* v = g_buckets.at(b).values;
  v[0] += scale;
  v[1] += scale * double(size);
  v[2] += scale;
  v[3] += scale * double(size);
  v[4] += 1;
  v[5] += double(size);
  v[6] += 1;
  v[7] += double(size);
  uint32_t r = HashPtr(reinterpret_cast<uintptr_t>(user)) & (kRecordSlots - 1);
  while (g_records[r].user > 1) r = (r + 1) & (kRecordSlots - 1);
  g_records[r] = {reinterpret_cast<uintptr_t>(user), raw, size, b, scale, scale * double(size)};
  ++g_record_count;
  return true;
}

// Forgets a sampled allocation (g_lock held); returns its raw pointer and size.
HOOKPROF_NO_INSTRUMENT void* Forget(void* user, size_t* size) {
  uint32_t r = HashPtr(reinterpret_cast<uintptr_t>(user)) & (kRecordSlots - 1);
  for (uint32_t probes = 0; probes < kRecordSlots; ++probes, r = (r + 1) & (kRecordSlots - 1)) {
    Record& rec = g_records[r];
    if (rec.user == 0) break;
    if (rec.user != reinterpret_cast<uintptr_t>(user)) continue;
    double* v = g_buckets.at(rec.bucket).values;
    v[2] -= rec.objects;
    v[3] -= rec.bytes;
    v[6] -= 1;
    v[7] -= double(rec.size);
    rec.user = 1;  // Deleted: probing goes on past it.
    --g_record_count;
    *size = rec.size;
    return rec.raw;
  }
  return nullptr;
}

// The slow path of every allocation function: sample (or not) and allocate.
HOOKPROF_NO_INSTRUMENT HOOKPROF_NOINLINE void* SlowAlloc(size_t size, size_t align, bool zero,
                                                         uintptr_t site) noexcept {
  HOOKPROF_KEEP_FRAME_POINTER();  // Tail-called from `site`: the walk finds it here (unwind.h).
  // The generation first: a thread that sees a new one sees its rate (release/acquire).
  const uint32_t generation = __atomic_load_n(&g_rate_generation, __ATOMIC_ACQUIRE);
  const int64_t rate = __atomic_load_n(&g_rate, __ATOMIC_RELAXED);
  const ThreadState* s = t_state;
  // Here for a new rate only (the old distance not yet crossed): redraw; sample only at rate 1.
  const bool redraw_only = t_rate_generation != generation && t_until > 0 && rate > 1;
  t_rate_generation = generation;
  // hookprof's own work on a program thread (a Recorder's queries) runs under its guard.
  const bool skip = t_in_heap != 0 || rate <= 0 || redraw_only ||
                    (s != nullptr && (s->internal || (s->guard & ~kHookBusy) != 0));
  t_until = rate <= 0 || (s != nullptr && s->internal) ? INT64_MAX / 2 : NextDistance(rate);
  if (skip) {
    if (align > 16) return __libc_memalign(align, size);
    return zero ? __libc_calloc(1, size) : __libc_malloc(size);
  }
  t_in_heap = 1;
  const size_t offset = align > 16 ? align : 16;
  void* raw = nullptr;
  if (size <= SIZE_MAX - offset) {
    raw = align > 16 ? __libc_memalign(align, size + offset) : __libc_malloc(size + offset);
  }
  void* user = nullptr;
  if (raw != nullptr) {
    if (zero) memset(raw, 0, size + offset);
    user = static_cast<char*>(raw) + offset;
    Lock();
    const bool recorded = Record_(user, raw, size, site, rate);
    if (!recorded) __atomic_add_fetch(&g_dropped, 1, __ATOMIC_RELAXED);
    Unlock();
    if (recorded) {
      Header* h = reinterpret_cast<Header*>(user) - 1;
      h->magic = kMagic;
      h->check = reinterpret_cast<uintptr_t>(user) ^ kCheck;
    } else {
      // Not tracked: hand out the raw block itself, as an unsampled allocation.
      user = raw;
    }
  }
  t_in_heap = 0;
  return user;
}

HOOKPROF_NO_INSTRUMENT void FreeSampled(void* p) {
  size_t size = 0;
  Lock();
  void* raw = Forget(p, &size);
  Unlock();
  Header* h = reinterpret_cast<Header*>(p) - 1;
  h->magic = 0;
  h->check = 0;
  __libc_free(raw != nullptr ? raw : p);
}

HOOKPROF_NO_INSTRUMENT size_t SampledSize(void* p) {
  size_t size = 0;
  Lock();
  uint32_t r = HashPtr(reinterpret_cast<uintptr_t>(p)) & (kRecordSlots - 1);
  for (uint32_t probes = 0; probes < kRecordSlots; ++probes, r = (r + 1) & (kRecordSlots - 1)) {
    if (g_records[r].user == 0) break;
    if (g_records[r].user == reinterpret_cast<uintptr_t>(p)) {
      size = g_records[r].size;
      break;
    }
  }
  Unlock();
  return size;
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE bool Counts(size_t size) {
  t_until -= static_cast<int64_t>(size);
  return HOOKPROF_UNLIKELY(
      t_until <= 0 || t_rate_generation != __atomic_load_n(&g_rate_generation, __ATOMIC_RELAXED));
}

HOOKPROF_NO_INSTRUMENT bool ValidAlignment(size_t align) {
  return align != 0 && (align & (align - 1)) == 0;
}

}  // namespace

HOOKPROF_NO_INSTRUMENT void SetHeapSampleRate(int64_t bytes) {
  __atomic_store_n(&g_rate, bytes < 0 ? 0 : bytes, __ATOMIC_RELAXED);
  // Every thread draws its next distance with the new rate at its next allocation, instead of
  // finishing one drawn with the old: with rate 1 every next allocation is recorded.
  __atomic_add_fetch(&g_rate_generation, 1, __ATOMIC_RELEASE);
}

HOOKPROF_NO_INSTRUMENT int64_t HeapSampleRate() {
  return __atomic_load_n(&g_rate, __ATOMIC_RELAXED);
}

std::vector<HeapBucket> HeapBuckets() {
  std::vector<HeapBucket> out;
  Lock();
  const uint32_t n = g_buckets.size();
  Unlock();
  out.reserve(n);  // Allocates: outside the lock (our own malloc may take it).
  Lock();
  for (uint32_t b = 1; b <= g_buckets.size() && out.size() < n; ++b) {
    const auto& e = g_buckets.at(b);
    const double* v = e.values;
    out.push_back({e.key.state, e.key.node, e.key.call_site, v[0], v[1], v[2], v[3], uint64_t(v[4]),
                   uint64_t(v[5]), uint64_t(v[6]), uint64_t(v[7])});
  }
  Unlock();
  return out;
}

uint64_t HeapDroppedSamples() { return __atomic_load_n(&g_dropped, __ATOMIC_RELAXED); }

HOOKPROF_NO_INSTRUMENT bool HeapSamplerActive() { return !HOOKPROF_SANITIZER_OWNS_MALLOC; }

}  // namespace instrument
}  // namespace hookprof

// A sanitizer's runtime interposes malloc itself and must see every block: no sampling then.
#if !HOOKPROF_SANITIZER_OWNS_MALLOC
namespace hi = hookprof::instrument;

extern "C" {

HOOKPROF_NO_INSTRUMENT void* malloc(size_t size) {
  if (HOOKPROF_LIKELY(!hi::Counts(size))) return __libc_malloc(size);
  return hi::SlowAlloc(size, 16, false, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}

HOOKPROF_NO_INSTRUMENT void free(void* p) {
  if (p == nullptr) return;
  if (HOOKPROF_UNLIKELY(hi::IsSampled(p))) {
    hi::FreeSampled(p);
    return;
  }
  __libc_free(p);
}

HOOKPROF_NO_INSTRUMENT void* calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (HOOKPROF_LIKELY(!hi::Counts(total))) return __libc_calloc(n, size);
  return hi::SlowAlloc(total, 16, true, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}

HOOKPROF_NO_INSTRUMENT void* realloc(void* p, size_t size) {
  const uintptr_t site = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  if (p == nullptr) {
    if (HOOKPROF_LIKELY(!hi::Counts(size))) return __libc_malloc(size);
    return hi::SlowAlloc(size, 16, false, site);
  }
  if (size == 0) {
    free(p);
    return nullptr;
  }
  const bool sampled = hi::IsSampled(p);
  if (!sampled && HOOKPROF_LIKELY(!hi::Counts(size))) return __libc_realloc(p, size);
  // Moving into or out of a sampled block: allocate, copy, free.
  const size_t old_size = sampled ? hi::SampledSize(p) : malloc_usable_size(p);
  void* q =
      sampled && !hi::Counts(size) ? __libc_malloc(size) : hi::SlowAlloc(size, 16, false, site);
  if (q == nullptr) return nullptr;
  memcpy(q, p, old_size < size ? old_size : size);
  free(p);
  return q;
}

HOOKPROF_NO_INSTRUMENT int posix_memalign(void** out, size_t align, size_t size) {
  if (!hi::ValidAlignment(align) || align % sizeof(void*) != 0) return EINVAL;
  void* p = hi::Counts(size)
                ? hi::SlowAlloc(size, align, false,
                                reinterpret_cast<uintptr_t>(__builtin_return_address(0)))
                : __libc_memalign(align, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

HOOKPROF_NO_INSTRUMENT void* memalign(size_t align, size_t size) {
  if (!hi::ValidAlignment(align)) {
    errno = EINVAL;
    return nullptr;
  }
  if (HOOKPROF_LIKELY(!hi::Counts(size))) return __libc_memalign(align, size);
  return hi::SlowAlloc(size, align, false,
                       reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}

HOOKPROF_NO_INSTRUMENT void* aligned_alloc(size_t align, size_t size) {
  return memalign(align, size);
}

HOOKPROF_NO_INSTRUMENT void* valloc(size_t size) {
  return memalign(static_cast<size_t>(sysconf(_SC_PAGESIZE)), size);
}

HOOKPROF_NO_INSTRUMENT void* pvalloc(size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return memalign(page, (size + page - 1) & ~(page - 1));
}

HOOKPROF_NO_INSTRUMENT size_t malloc_usable_size(void* p) {
  using UsableFn = size_t (*)(void*);
  static UsableFn real = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  if (p == nullptr) return 0;
  if (hi::IsSampled(p)) return hi::SampledSize(p);
  return real != nullptr ? real(p) : 0;
}

}  // extern "C"
#endif  // !HOOKPROF_SANITIZER_OWNS_MALLOC
