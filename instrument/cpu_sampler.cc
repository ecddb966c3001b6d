#include "instrument/cpu_sampler.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "instrument/attributes.h"
#include "instrument/thread_state.h"

namespace hookprof {
namespace instrument {
namespace {

int g_hz = 0;  // Relaxed: read by the registration callback on new threads.
uint64_t g_unattributed = 0;
uint64_t g_timer_failures = 0;

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void OnSigprof(int, siginfo_t*, void*) {
  ThreadState* s = t_state;
  if (s == nullptr || s->internal || s->nodes == nullptr) {
    __atomic_add_fetch(&g_unattributed, 1, __ATOMIC_RELAXED);
    return;
  }
  uint32_t d = s->depth;
  if (d > kMaxDepth) d = kMaxDepth;
  // The hooks write a frame before publishing depth (signal fence), so stack[d - 1] is whole.
  __atomic_signal_fence(__ATOMIC_ACQUIRE);
  Node& n = s->nodes[d != 0 ? s->stack[d - 1].node : kRootNode];
  __atomic_store_n(&n.samples, n.samples + 1, __ATOMIC_RELAXED);
}

// The CPU-time clock of any thread of this process, from its tid (what glibc's
// pthread_getcpuclockid computes): lets one thread arm timers for the others.
HOOKPROF_NO_INSTRUMENT clockid_t ThreadCpuClock(int tid) {
  return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
}

HOOKPROF_NO_INSTRUMENT void ArmTimer(ThreadState* s) {
  const int hz = __atomic_load_n(&g_hz, __ATOMIC_RELAXED);
  if (hz <= 0 || s->internal || !__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE)) return;
  int expected = 0;
  if (!__atomic_compare_exchange_n(&s->timer_state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    return;
  }
  struct sigevent sev;
  memset(&sev, 0, sizeof(sev));
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGPROF;
  sev._sigev_un._tid = s->tid;
  timer_t timer;
  if (timer_create(ThreadCpuClock(s->tid), &sev, &timer) != 0) {
    __atomic_add_fetch(&g_timer_failures, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->timer_state, 0, __ATOMIC_RELEASE);
    return;
  }
  struct itimerspec spec;
  spec.it_interval.tv_sec = 0;
  spec.it_interval.tv_nsec = 1000000000L / hz;
  spec.it_value = spec.it_interval;
  timer_settime(timer, 0, &spec, nullptr);
  s->timer = timer;
  __atomic_store_n(&s->timer_state, 2, __ATOMIC_RELEASE);
  // The thread may have exited between the checks above and now; its exit handler could not
  // see this timer, so delete it here.
  if (!__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE)) {
    expected = 2;
    if (__atomic_compare_exchange_n(&s->timer_state, &expected, 3, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      timer_delete(timer);
    }
  }
}

// A thread that exits takes its armed timer with it.
HOOKPROF_NO_INSTRUMENT void DeleteTimerAtExit(ThreadState* s) {
  int armed = 2;
  if (__atomic_compare_exchange_n(&s->timer_state, &armed, 3, false, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE)) {
    timer_delete(s->timer);
  }
}

}  // namespace

HOOKPROF_NO_INSTRUMENT int StartCpuSampling(int hz) {
  if (hz <= 0) return EINVAL;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = &OnSigprof;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPROF, &sa, nullptr) != 0) return errno;
  __atomic_store_n(&g_hz, hz, __ATOMIC_RELAXED);
  SetThreadRegisteredCallback(&ArmTimer);
  SetThreadExitCallback(&DeleteTimerAtExit);
  for (ThreadState* s = RegistryHead(); s != nullptr; s = s->next) ArmTimer(s);
  return 0;
}

HOOKPROF_NO_INSTRUMENT void StopCpuSampling() {
  __atomic_store_n(&g_hz, 0, __ATOMIC_RELAXED);
  for (ThreadState* s = RegistryHead(); s != nullptr; s = s->next) {
    int expected = 2;
    if (__atomic_compare_exchange_n(&s->timer_state, &expected, 3, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      timer_delete(s->timer);
      __atomic_store_n(&s->timer_state, 0, __ATOMIC_RELEASE);
    }
  }
}

HOOKPROF_NO_INSTRUMENT uint64_t CpuSamplingPeriodNanos() {
  const int hz = __atomic_load_n(&g_hz, __ATOMIC_RELAXED);
  return hz > 0 ? 1000000000ull / hz : 0;
}

HOOKPROF_NO_INSTRUMENT uint64_t UnattributedSamples() {
  return __atomic_load_n(&g_unattributed, __ATOMIC_RELAXED);
}

HOOKPROF_NO_INSTRUMENT uint64_t TimerFailures() {
  return __atomic_load_n(&g_timer_failures, __ATOMIC_RELAXED);
}

}  // namespace instrument
}  // namespace hookprof
