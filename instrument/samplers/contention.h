// Mutex and block profiling: how long threads waited for locks and blocked on condition
// variables and joins, charged to the waiting thread's call path and the call site.
//
// Interposed (so std::mutex, std::shared_mutex, std::timed_mutex, std::condition_variable and
// std::thread::join are covered): pthread_mutex_lock/timedlock and pthread_rwlock_rdlock/wrlock
// (mutex profile), pthread_cond_wait/timedwait/clockwait and pthread_join (block profile).
// A lock first tries the lock without waiting; only a lock that is contended is timed, so an
// uncontended std::mutex costs one extra call. The C library's own functions do the work.
//
// Sampling follows Go's runtime: the mutex profile keeps 1 in `fraction` contended acquisitions
// on average (SetMutexProfileFraction) and scales what it keeps by `fraction`; the block
// profile keeps every event of at least `rate` nanoseconds and a shorter one of d ns with
// probability d / rate, weighted rate / d, so totals are unbiased (SetBlockProfileRate).
//
// hookprof's own threads and code running under its guard are never recorded. Full tables drop
// events and count them. Thread-safety: all of it.
#ifndef HOOKPROF_INSTRUMENT_SAMPLERS_CONTENTION_H_
#define HOOKPROF_INSTRUMENT_SAMPLERS_CONTENTION_H_

#include <stdint.h>

#include <vector>

#include "instrument/stack_table.h"

namespace hookprof {
namespace instrument {

enum class Contention { kMutex = 0, kBlock = 1 };

struct ContentionBucket {
  StackKey key;
  double count;     // Events (unbiased estimate).
  double delay_ns;  // Time waited (unbiased estimate).
};

// 0 turns mutex profiling off, 1 records every contended acquisition, n one in n (default 1).
void SetMutexProfileFraction(int64_t fraction);
int64_t MutexProfileFraction();

// 0 turns block profiling off, 1 records every event; otherwise as above (default 1).
void SetBlockProfileRate(int64_t nanoseconds);
int64_t BlockProfileRate();

// Records a wait measured elsewhere (abseil's tracer hooks) on the calling thread, sampled as
// the interposed functions are.
void RecordMutexWait(int64_t nanoseconds, uintptr_t call_site);
void RecordBlock(int64_t nanoseconds, uintptr_t call_site);

// A copy of every bucket of one profile. Call from hookprof's own code (it allocates).
std::vector<ContentionBucket> ContentionBuckets(Contention which);

// Events lost because a table was full.
uint64_t ContentionDropped(Contention which);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_SAMPLERS_CONTENTION_H_
