// absl::Mutex and absl::CondVar do not go through pthread: they report through abseil's tracer
// hooks, registered here at load time (abseil keeps one tracer of each kind; a program that
// registers its own replaces these).
//
// abseil calls the mutex tracer from the thread that releases a contended mutex, with the
// waiters' total wait: for absl::Mutex the delay is charged to the releasing call path, as Go's
// mutex profile does (the waiters' own paths are not known at that point). The condition
// variable tracer runs on the waiting thread ("Wait" before it blocks, "Unwait" after), so
// absl::CondVar waits are charged to the waiting path, like pthread_cond_wait.
#include <string.h>
#include <time.h>

#include "absl/base/internal/cycleclock.h"
#include "absl/synchronization/mutex.h"
#include "instrument/attributes.h"
#include "instrument/samplers/contention.h"
#include "instrument/state/clock.h"

namespace hookprof {
namespace instrument {
namespace {

__thread int64_t t_cv_wait_start __attribute__((tls_model("initial-exec"))) = 0;
double g_ns_per_cycle = 0;

HOOKPROF_NO_INSTRUMENT void OnMutexRelease(const char*, const void*, int64_t wait_cycles) {
  RecordMutexWait(static_cast<int64_t>(double(wait_cycles) * g_ns_per_cycle), 0);
}

HOOKPROF_NO_INSTRUMENT void OnCondVar(const char* event, const void*) {
  if (strcmp(event, "Wait") == 0) {
    t_cv_wait_start = MonotonicNanos();
  } else if (strcmp(event, "Unwait") == 0 && t_cv_wait_start != 0) {
    RecordBlock(MonotonicNanos() - t_cv_wait_start, 0);
    t_cv_wait_start = 0;
  }
}

HOOKPROF_NO_INSTRUMENT __attribute__((constructor)) void InstallAbslTracers() {
  // The tracer's cycles are abseil's CycleClock's, whose rate abseil itself reports.
  const double hz = absl::base_internal::CycleClock::Frequency();
  g_ns_per_cycle = hz > 0 ? 1e9 / hz : 0;
  absl::RegisterMutexTracer(&OnMutexRelease);
  absl::RegisterCondVarTracer(&OnCondVar);
}

}  // namespace
}  // namespace instrument
}  // namespace hookprof
