#include "instrument/samplers/cpu_sampler.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "instrument/attributes.h"
#include "instrument/state/clock.h"
#include "instrument/state/thread_state.h"
#include "instrument/unwind.h"

namespace hookprof {
namespace instrument {
namespace {

int g_hz = 0;  // Relaxed: read by the registration callback on new threads.
uint64_t g_unattributed = 0;
uint64_t g_timer_failures = 0;
uint64_t g_foreign_signals = 0;  // SIGPROFs not from hookprof's timers.
// The program's own SIGPROF handler, installed before hookprof's: its signals go on to it.
// Written by StartCpuSampling before the handler is installed; read by the handler.
struct sigaction g_program_handler;
bool g_have_program_handler = false;

// Probes of the PC index before a sample gives up its PC (keeps the handler's time bounded).
constexpr uint32_t kMaxProbes = 64;

// Counts `weight` samples at (node, pc) in the thread's PC table; false when the table is full.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES bool CountPc(ThreadState* s, uint32_t node,
                                                          uintptr_t pc, uintptr_t site,
                                                          uint64_t weight) {
  const uint32_t mask = kPcIndexSlots - 1;
  uint32_t i = PathHash(node, pc ^ (site << 16)) & mask;
  for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask) {
    const uint32_t slot = s->pc_index[i];
    if (slot == 0) {
      const uint32_t id = s->published_pc_samples;
      if (id >= kMaxPcSamples) return false;
      PcSample& e = s->pc_samples[id];
      e.pc = pc;
      e.site = site;
      e.node = node;
      e.count = weight;
      s->pc_index[i] = static_cast<uint16_t>(id + 1);
      // Release: a reader that sees the new count of entries sees the entry.
      __atomic_store_n(&s->published_pc_samples, id + 1, __ATOMIC_RELEASE);
      return true;
    }
    PcSample& e = s->pc_samples[slot - 1];
    if (e.pc == pc && e.site == site && e.node == node) {
      __atomic_store_n(&e.count, e.count + weight, __ATOMIC_RELAXED);
      return true;
    }
  }
  return false;
}

// Charges one sample to the node on top of the shadow stack and to the interrupted PC under it:
// the PC says where in that function, or in which uninstrumented code it called (libc's write,
// memcpy, a lock), the CPU went. Async-signal-safe: only this thread's preallocated memory.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void OnSigprof(int sig, siginfo_t* info,
                                                            void* context) {
  HOOKPROF_KEEP_FRAME_POINTER();  // The stack walk passes through this frame (unwind.h).
  ThreadState* s = t_state;
  // Only hookprof's timers are samples (they carry the thread's state as their value): the
  // program's own (setitimer's ITIMER_PROF, its timers, a kill) go to its handler if it had one.
  if (info == nullptr || info->si_code != SI_TIMER || s == nullptr ||
      info->si_value.sival_ptr != static_cast<void*>(s)) {
    __atomic_add_fetch(&g_foreign_signals, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&g_have_program_handler, __ATOMIC_ACQUIRE)) return;
    if ((g_program_handler.sa_flags & SA_SIGINFO) != 0) {
      g_program_handler.sa_sigaction(sig, info, context);
    } else if (g_program_handler.sa_handler != SIG_DFL && g_program_handler.sa_handler != SIG_IGN) {
      g_program_handler.sa_handler(sig);
    }
    return;
  }
  // The kernel sends no second signal while one is pending: it counts the periods it merged
  // into this one (si_overrun, which a busy machine makes common). Their CPU time was spent,
  // so this sample stands for them too, charged where it landed, and they are counted.
  const uint64_t weight = 1 + static_cast<uint64_t>(info->si_overrun > 0 ? info->si_overrun : 0);
  if (s->internal || s->nodes == nullptr) {
    __atomic_add_fetch(&g_unattributed, weight, __ATOMIC_RELAXED);
    return;
  }
  __atomic_store_n(&s->coalesced_samples, s->coalesced_samples + weight - 1, __ATOMIC_RELAXED);
  __atomic_store_n(&s->sampled_periods, s->sampled_periods + weight, __ATOMIC_RELAXED);
  if ((s->guard & ~kHookBusy) != 0) {
    // hookprof's control plane on a program thread (ScopedGuard: exit files, Use, HandleHttp):
    // its time is not the program's.
    __atomic_store_n(&s->own_work_samples, s->own_work_samples + weight, __ATOMIC_RELAXED);
    return;
  }
  uint32_t d = s->depth;
  if (d > kMaxDepth) d = kMaxDepth;
  // The hooks write a frame before publishing depth (signal fence), so stack[d - 1] is whole.
  __atomic_signal_fence(__ATOMIC_ACQUIRE);
  uint32_t node = d != 0 ? s->stack[d - 1].node : kRootNode;
  uintptr_t site = d != 0 ? s->stack[d - 1].call_site : 0;
  if (s->guard == 0) {
    // No hook is changing the tree: the frames the hooks did not see are walked and grafted
    // (busy meanwhile, so that a handler of another signal running hooked code waits its turn).
    s->guard = kHookBusy;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    const uint32_t walked = SampledNode(s, context);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    s->guard = 0;
    if (walked != node) site = 0;  // A walked frame's node holds its line itself.
    node = walked;
  }
  Node& n = s->nodes[node];
  __atomic_store_n(&n.samples, n.samples + weight, __ATOMIC_RELAXED);
  // The node first, then its PC: readers take PCs before nodes (see runtime/core/snapshot.cc).
  __atomic_signal_fence(__ATOMIC_RELEASE);
  NoteCallSites(s);
  const auto* uc = static_cast<const ucontext_t*>(context);
  const uintptr_t pc = uc != nullptr ? static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]) : 0;
  if (pc == 0 || !CountPc(s, node, pc, site, weight)) {
    __atomic_store_n(&s->lost_pcs, s->lost_pcs + weight, __ATOMIC_RELAXED);
  }
}

// The CPU-time clock of any thread of this process, from its tid (what glibc's
// pthread_getcpuclockid computes): lets one thread arm timers for the others.
HOOKPROF_NO_INSTRUMENT clockid_t ThreadCpuClock(int tid) {
  return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
}

HOOKPROF_NO_INSTRUMENT void ArmTimer(ThreadState* s) {
  const int hz = __atomic_load_n(&g_hz, __ATOMIC_RELAXED);
  if (hz <= 0 || __atomic_load_n(&s->internal, __ATOMIC_RELAXED) ||
      __atomic_load_n(&s->alive, __ATOMIC_ACQUIRE) != kStateAlive) {
    return;
  }
  int expected = 0;
  if (!__atomic_compare_exchange_n(&s->timer_state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    return;
  }
  struct sigevent sev;
  memset(&sev, 0, sizeof(sev));
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGPROF;
  sev.sigev_value.sival_ptr = s;  // How the handler knows its own timers' signals.
  sev._sigev_un._tid = TidOf(s);
  timer_t timer;
  if (timer_create(ThreadCpuClock(TidOf(s)), &sev, &timer) != 0) {
    __atomic_add_fetch(&g_timer_failures, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->timer_state, 0, __ATOMIC_RELEASE);
    return;
  }
  struct itimerspec spec;
  spec.it_interval.tv_sec = 0;
  spec.it_interval.tv_nsec = 1000000000L / hz;
  spec.it_value = spec.it_interval;
  // No signal of this timer can arrive yet: these are the owner's until its first sample.
  s->timer_period_ns = spec.it_interval.tv_nsec;
  __atomic_store_n(&s->sampled_periods, 0, __ATOMIC_RELAXED);
  s->timer_armed_cpu_ns = ClockNanos(ThreadCpuClock(TidOf(s)));
  timer_settime(timer, 0, &spec, nullptr);
  s->timer = timer;
  __atomic_store_n(&s->timer_state, 2, __ATOMIC_RELEASE);
  // The thread may have exited between the checks above and now; its exit handler could not
  // see this timer, so delete it here.
  if (__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE) != kStateAlive) {
    expected = 2;
    if (__atomic_compare_exchange_n(&s->timer_state, &expected, 3, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      timer_delete(timer);
    }
  }
}

// A thread that exits takes its armed timer with it, on its own way out (the thread callbacks
// run on the exiting thread), and counts the periods it ran that no signal reached: a signal
// still pending when the timer goes is discarded with it, and a busy machine leaves several.
HOOKPROF_NO_INSTRUMENT void DeleteTimerAtExit(ThreadState* s) {
  int armed = 2;
  if (__atomic_compare_exchange_n(&s->timer_state, &armed, 3, false, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE)) {
    timer_delete(s->timer);
    // Any signal the kernel kept was delivered on the way back from timer_delete.
    const int64_t ran = ClockNanos(CLOCK_THREAD_CPUTIME_ID) - s->timer_armed_cpu_ns;
    const uint64_t periods =
        s->timer_period_ns > 0 && ran > 0 ? static_cast<uint64_t>(ran / s->timer_period_ns) : 0;
    const uint64_t sampled = __atomic_load_n(&s->sampled_periods, __ATOMIC_RELAXED);
    if (periods > sampled) {
      __atomic_store_n(&s->unsampled_periods, s->unsampled_periods + periods - sampled,
                       __ATOMIC_RELAXED);
    }
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
  struct sigaction before;
  if (sigaction(SIGPROF, nullptr, &before) != 0) return errno;
  const bool ours = (before.sa_flags & SA_SIGINFO) != 0 && before.sa_sigaction == &OnSigprof;
  if (!ours && before.sa_handler != SIG_DFL && before.sa_handler != SIG_IGN) {
    // The program's handler keeps the program's signals: hookprof's handler passes them on.
    g_program_handler = before;
    __atomic_store_n(&g_have_program_handler, true, __ATOMIC_RELEASE);
  }
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

HOOKPROF_NO_INSTRUMENT bool SigprofHandlerIsOurs() {
  struct sigaction now;
  if (sigaction(SIGPROF, nullptr, &now) != 0) return false;
  return (now.sa_flags & SA_SIGINFO) != 0 && now.sa_sigaction == &OnSigprof;
}

HOOKPROF_NO_INSTRUMENT bool ChainsProgramSigprofHandler() {
  return __atomic_load_n(&g_have_program_handler, __ATOMIC_ACQUIRE);
}

HOOKPROF_NO_INSTRUMENT uint64_t ForeignSigprofSignals() {
  return __atomic_load_n(&g_foreign_signals, __ATOMIC_RELAXED);
}

HOOKPROF_NO_INSTRUMENT uint64_t TimerFailures() {
  return __atomic_load_n(&g_timer_failures, __ATOMIC_RELAXED);
}

}  // namespace instrument
}  // namespace hookprof
