#include "instrument/samplers/contention.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "instrument/attributes.h"
#include "instrument/state/clock.h"

namespace hookprof {
namespace instrument {
namespace {

int64_t g_fraction = 1;
int64_t g_rate = 1;

struct Profile {
  SpinLock lock;
  StackTable<2> table;  // values: count, delay_ns
  uint64_t dropped = 0;
};
Profile g_profiles[2];

__thread uint64_t t_rng __attribute__((tls_model("initial-exec"))) = 0;

HOOKPROF_NO_INSTRUMENT uint64_t NextRandom() {
  if (t_rng == 0) t_rng = reinterpret_cast<uintptr_t>(&t_rng) * 0x2545F4914F6CDD1Dull | 1;
  t_rng ^= t_rng >> 12;
  t_rng ^= t_rng << 25;
  t_rng ^= t_rng >> 27;
  return t_rng * 0x2545F4914F6CDD1Dull;
}

// hookprof's own threads, and its code on a user thread, are not the user's waits.
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE bool Ignored() {
  const ThreadState* s = t_state;
  return s != nullptr && (s->internal || s->guard != 0);
}

HOOKPROF_NO_INSTRUMENT void Add(Contention which, uintptr_t call_site, double count, double delay) {
  HOOKPROF_KEEP_FRAME_POINTER();  // On the walk from CurrentStackKey (unwind.h).
  Profile& p = g_profiles[static_cast<int>(which)];
  const StackKey key = CurrentStackKey(call_site);
  p.lock.Lock();
  if (const uint32_t id = p.table.FindOrAdd(key); id != 0) {
    p.table.at(id).values[0] += count;
    p.table.at(id).values[1] += delay;
  } else {
    ++p.dropped;
  }
  p.lock.Unlock();
}

// Whether to time this contended acquisition (1 in `fraction`).
HOOKPROF_NO_INSTRUMENT bool SampleMutex(int64_t fraction) {
  return fraction == 1 || (fraction > 1 && NextRandom() % uint64_t(fraction) == 0);
}

HOOKPROF_NO_INSTRUMENT void AddMutex(int64_t fraction, int64_t ns, uintptr_t site) {
  HOOKPROF_KEEP_FRAME_POINTER();  // On the walk from CurrentStackKey (unwind.h).
  if (ns < 0) ns = 0;
  Add(Contention::kMutex, site, double(fraction), double(fraction) * double(ns));
}

template <typename Fn>
HOOKPROF_NO_INSTRUMENT Fn Real(Fn* slot, const char* name) {
  Fn fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (fn == nullptr) {
    // Racing resolvers store the same pointer. dlsym takes the loader's lock through the C
    // library's internal entry point, not through these interposed ones.
    fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
  }
  return fn;
}

using MutexFn = int (*)(pthread_mutex_t*);
using MutexTimedFn = int (*)(pthread_mutex_t*, const struct timespec*);
using RwFn = int (*)(pthread_rwlock_t*);
using WaitFn = int (*)(pthread_cond_t*, pthread_mutex_t*);
using TimedWaitFn = int (*)(pthread_cond_t*, pthread_mutex_t*, const struct timespec*);
using ClockWaitFn = int (*)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const struct timespec*);
using JoinFn = int (*)(pthread_t, void**);

MutexFn g_mutex_lock = nullptr;
MutexTimedFn g_mutex_timedlock = nullptr;
RwFn g_rdlock = nullptr;
RwFn g_wrlock = nullptr;
WaitFn g_cond_wait = nullptr;
TimedWaitFn g_cond_timedwait = nullptr;
ClockWaitFn g_cond_clockwait = nullptr;
JoinFn g_join = nullptr;

// Times one contended acquisition if it is sampled (1 in `fraction`).
class MutexTimer {
 public:
  HOOKPROF_NO_INSTRUMENT MutexTimer()
      : fraction_(__atomic_load_n(&g_fraction, __ATOMIC_RELAXED)),
        start_(Ignored() || !SampleMutex(fraction_) ? -1 : MonotonicNanos()) {}
  HOOKPROF_NO_INSTRUMENT void Done(uintptr_t site) {
    if (start_ >= 0) AddMutex(fraction_, MonotonicNanos() - start_, site);
  }

 private:
  const int64_t fraction_;
  const int64_t start_;
};

// Times one blocking call; RecordBlock samples it by its duration.
class BlockTimer {
 public:
  HOOKPROF_NO_INSTRUMENT BlockTimer()
      : start_(__atomic_load_n(&g_rate, __ATOMIC_RELAXED) <= 0 || Ignored() ? -1
                                                                            : MonotonicNanos()) {}
  HOOKPROF_NO_INSTRUMENT void Done(uintptr_t site) {
    if (start_ >= 0) RecordBlock(MonotonicNanos() - start_, site);
  }

 private:
  const int64_t start_;
};

}  // namespace

HOOKPROF_NO_INSTRUMENT void SetMutexProfileFraction(int64_t fraction) {
  __atomic_store_n(&g_fraction, fraction < 0 ? 0 : fraction, __ATOMIC_RELAXED);
}
HOOKPROF_NO_INSTRUMENT int64_t MutexProfileFraction() {
  return __atomic_load_n(&g_fraction, __ATOMIC_RELAXED);
}
HOOKPROF_NO_INSTRUMENT void SetBlockProfileRate(int64_t nanoseconds) {
  __atomic_store_n(&g_rate, nanoseconds < 0 ? 0 : nanoseconds, __ATOMIC_RELAXED);
}
HOOKPROF_NO_INSTRUMENT int64_t BlockProfileRate() {
  return __atomic_load_n(&g_rate, __ATOMIC_RELAXED);
}

HOOKPROF_NO_INSTRUMENT void RecordMutexWait(int64_t nanoseconds, uintptr_t call_site) {
  HOOKPROF_KEEP_FRAME_POINTER();  // On the walk from CurrentStackKey (unwind.h).
  const int64_t fraction = __atomic_load_n(&g_fraction, __ATOMIC_RELAXED);
  if (Ignored() || !SampleMutex(fraction)) return;
  AddMutex(fraction, nanoseconds, call_site);
}

HOOKPROF_NO_INSTRUMENT void RecordBlock(int64_t ns, uintptr_t call_site) {
  HOOKPROF_KEEP_FRAME_POINTER();  // On the walk from CurrentStackKey (unwind.h).
  const int64_t rate = __atomic_load_n(&g_rate, __ATOMIC_RELAXED);
  if (rate <= 0 || ns <= 0 || Ignored()) return;
  if (ns >= rate) {
    Add(Contention::kBlock, call_site, 1.0, double(ns));
    return;
  }
  // Kept with probability ns / rate, so weighted rate / ns: one event stands for that many.
  if (NextRandom() % uint64_t(rate) >= uint64_t(ns)) return;
  Add(Contention::kBlock, call_site, double(rate) / double(ns), double(rate));
}

std::vector<ContentionBucket> ContentionBuckets(Contention which) {
  Profile& p = g_profiles[static_cast<int>(which)];
  p.lock.Lock();
  const uint32_t n = p.table.size();
  p.lock.Unlock();
  std::vector<ContentionBucket> out;
  out.reserve(n);  // Allocates outside the lock.
  p.lock.Lock();
  for (uint32_t id = 1; id <= p.table.size() && out.size() < n; ++id) {
    const auto& e = p.table.at(id);
    out.push_back({e.key, e.values[0], e.values[1]});
  }
  p.lock.Unlock();
  return out;
}

uint64_t ContentionDropped(Contention which) {
  Profile& p = g_profiles[static_cast<int>(which)];
  p.lock.Lock();
  const uint64_t dropped = p.dropped;
  p.lock.Unlock();
  return dropped;
}

}  // namespace instrument
}  // namespace hookprof

namespace hi = hookprof::instrument;

#define HOOKPROF_CALL_SITE reinterpret_cast<uintptr_t>(__builtin_return_address(0))
// Timed paths keep a frame pointer: the waiter's stack is walked from below (unwind.h).

#if HOOKPROF_INTERPOSE_PTHREAD
// A lock that is free is taken by the try-lock and not timed. Only a busy one (EBUSY) waits in
// the real lock function, timed; any other answer of the try-lock (taken, or an error) is what
// the lock function would have answered too.
extern "C" {

HOOKPROF_NO_INSTRUMENT int pthread_mutex_lock(pthread_mutex_t* m) {
  const int rc = pthread_mutex_trylock(m);
  if (HOOKPROF_LIKELY(rc != EBUSY)) return rc;
  HOOKPROF_KEEP_FRAME_POINTER();
  hi::MutexTimer timer;
  const int result = hi::Real(&hi::g_mutex_lock, "pthread_mutex_lock")(m);
  timer.Done(HOOKPROF_CALL_SITE);
  return result;
}

HOOKPROF_NO_INSTRUMENT int pthread_mutex_timedlock(pthread_mutex_t* m,
                                                   const struct timespec* deadline) {
  const int rc = pthread_mutex_trylock(m);
  if (HOOKPROF_LIKELY(rc != EBUSY)) return rc;
  HOOKPROF_KEEP_FRAME_POINTER();
  hi::MutexTimer timer;
  const int result = hi::Real(&hi::g_mutex_timedlock, "pthread_mutex_timedlock")(m, deadline);
  timer.Done(HOOKPROF_CALL_SITE);
  return result;
}

HOOKPROF_NO_INSTRUMENT int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  const int rc = pthread_rwlock_tryrdlock(l);
  if (HOOKPROF_LIKELY(rc != EBUSY)) return rc;
  HOOKPROF_KEEP_FRAME_POINTER();
  hi::MutexTimer timer;
  const int result = hi::Real(&hi::g_rdlock, "pthread_rwlock_rdlock")(l);
  timer.Done(HOOKPROF_CALL_SITE);
  return result;
}

HOOKPROF_NO_INSTRUMENT int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  const int rc = pthread_rwlock_trywrlock(l);
  if (HOOKPROF_LIKELY(rc != EBUSY)) return rc;
  HOOKPROF_KEEP_FRAME_POINTER();
  hi::MutexTimer timer;
  const int result = hi::Real(&hi::g_wrlock, "pthread_rwlock_wrlock")(l);
  timer.Done(HOOKPROF_CALL_SITE);
  return result;
}

HOOKPROF_NO_INSTRUMENT int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  HOOKPROF_KEEP_FRAME_POINTER();
  hi::BlockTimer timer;
  const int result = hi::Real(&hi::g_cond_wait, "pthread_cond_wait")(c, m);
  timer.Done(HOOKPROF_CALL_SITE);
  return result;
}

HOOKPROF_NO_INSTRUMENT int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m,
                                                  const struct timespec* deadline) {
  HOOKPROF_KEEP_FRAME_POINTER();
  hi::BlockTimer timer;
  const int result = hi::Real(&hi::g_cond_timedwait, "pthread_cond_timedwait")(c, m, deadline);
  timer.Done(HOOKPROF_CALL_SITE);
  return result;
}

HOOKPROF_NO_INSTRUMENT int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m,
                                                  clockid_t clock,
                                                  const struct timespec* deadline) {
  HOOKPROF_KEEP_FRAME_POINTER();
  hi::BlockTimer timer;
  const int result =
      hi::Real(&hi::g_cond_clockwait, "pthread_cond_clockwait")(c, m, clock, deadline);
  timer.Done(HOOKPROF_CALL_SITE);
  return result;
}

HOOKPROF_NO_INSTRUMENT int pthread_join(pthread_t thread, void** result) {
  HOOKPROF_KEEP_FRAME_POINTER();
  hi::BlockTimer timer;
  const int rc = hi::Real(&hi::g_join, "pthread_join")(thread, result);
  timer.Done(HOOKPROF_CALL_SITE);
  return rc;
}

}  // extern "C"
#endif  // HOOKPROF_INTERPOSE_PTHREAD
