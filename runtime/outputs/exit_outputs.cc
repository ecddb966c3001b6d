#include "runtime/outputs/exit_outputs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "instrument/attributes.h"
#include "instrument/coverage/coverage.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/state/clock.h"
#include "instrument/state/thread_state.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/reports/coverage_report.h"
#include "runtime/reports/exclusions.h"
#include "runtime/reports/latency.h"
#include "runtime/symbols/symbolizer.h"
#include "runtime/trace/trace.h"
#include "runtime/windows/windows.h"

namespace hookprof {
namespace runtime {
namespace {

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Files are written under a temporary name and renamed when complete: a writer cut short (a
// crash's handler stops waiting; the disk fills) leaves the old file or none, never half a one.
std::string TempNameOf(const std::string& path) { return path + ".hookprof-partial"; }

bool Commit(FILE* f, const std::string& path, bool ok) {
  ok &= fclose(f) == 0;
  const std::string temp = TempNameOf(path);
  if (ok && rename(temp.c_str(), path.c_str()) == 0) return true;
  unlink(temp.c_str());
  return false;
}

void WriteFile(const std::string& path, const std::string& data, const char* what) {
  FILE* f = fopen(TempNameOf(path).c_str(), "wb");
  bool ok = f != nullptr && Commit(f, path, fwrite(data.data(), 1, data.size(), f) == data.size());
  if (ok) {
    fprintf(stderr, "hookprof: wrote the whole run's %s to %s\n", what, path.c_str());
  } else {
    fprintf(stderr, "hookprof: cannot write the %s to %s\n", what, path.c_str());
  }
}

void WriteProfile(const std::string& path, int64_t run_nanos) {
  ProfileBuilder builder(Symbolizer::Current());
  CpuWindow::WholeRun(run_nanos).Build(&builder);
  WriteFile(path, builder.Finish(), "CPU profile");
}

void WriteCoverage(const std::string& path) {
  if (!instrument::CoverageActive()) {
    fprintf(stderr, "hookprof: no sanitizer coverage in this program; %s not written\n",
            path.c_str());
    return;
  }
  instrument::CoverageCounts counts;
  instrument::CollectCoverage(&counts);
  CoverageView view(counts, Symbolizer::Current());
  std::string data, error;
  if (EndsWith(path, ".txt")) {
    data = CoverageText(view, "the whole run");
  } else if (!view.ResolveLines(&error)) {
    fprintf(stderr, "hookprof: coverage not written to %s: %s\n", path.c_str(), error.c_str());
    return;
  } else if (EndsWith(path, ".pb.gz")) {
    ProfileBuilder builder(Symbolizer::Current());
    BuildCoverageProfile(view, 0, "the whole run", &builder);
    data = builder.Finish();
  } else if (std::string why = WhyNoLcov(view); !why.empty()) {
    fprintf(stderr, "hookprof: coverage not written to %s: %s\n", path.c_str(), why.c_str());
    return;
  } else {
    data = CoverageLcov(view);
  }
  WriteFile(path, data, "coverage");
}

// Latency per function over the whole run (timing mode): JSON for .json, else the text table.
void WriteLatency(const std::string& path) {
  LatencyReport report;
  LatencyOverWindow(0, nullptr, &report);  // The whole run: no wait.
  WriteFile(path, EndsWith(path, ".json") ? LatencyJson(report) : LatencyText(report),
            "latency table");
}

// The exclusion list over the whole run, at the default thresholds.
void WriteExclusions(const std::string& path, int64_t run_nanos) {
  const ExclusionParams params;
  const ExclusionReport report =
      ExclusionsOf(CpuWindow::WholeRun(run_nanos), params, !EndsWith(path, ".xray"));
  WriteFile(path,
            EndsWith(path, ".gcc")    ? GccExcludeFlag(report) + "\n"
            : EndsWith(path, ".xray") ? XrayAttrList(report)
                                      : ExclusionText(report, params),
            "exclusion list");
}

// The flight recorder: what the trace rings still hold, streamed to the file.
void WriteFlightRecord(const std::string& path, const TraceFilter& filter) {
  FILE* f = fopen(TempNameOf(path).c_str(), "wb");
  if (f == nullptr) {
    fprintf(stderr, "hookprof: cannot write the trace to %s\n", path.c_str());
    return;
  }
  bool ok = true;
  const TraceStats stats =
      WriteTrace(TraceStart::Beginning(), filter,
                 EndsWith(path, ".json") ? TraceFormat::kJson : TraceFormat::kPerfetto,
                 [f, &ok](const std::string& chunk) {
                   ok &= fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size();
                   return ok;
                 });
  ok = Commit(f, path, ok);
  fprintf(stderr, "hookprof: %s the trace to %s (%llu slices, %llu events lost)\n",
          ok ? "wrote" : "could not fully write", path.c_str(),
          static_cast<unsigned long long>(stats.slices),
          static_cast<unsigned long long>(stats.lost_events));
}

// A signal handler may only write to the pipe; the watcher thread does the rest. A fatal
// signal's handler then waits on the done pipe for the files, up to kFatalWriteSeconds.
int g_signal_pipe[2] = {-1, -1};
int g_done_pipe[2] = {-1, -1};
void (*g_write)() = nullptr;
constexpr char kFatal = char(0x80);  // Or'ed into the signal number by a fatal signal's handler.
constexpr int kFatalWriteSeconds = 15;
constexpr int kTerminatingSignals[] = {SIGTERM, SIGINT};
constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
int g_watcher_tid = 0;

extern "C" HOOKPROF_NO_INSTRUMENT void OnTerminatingSignal(int sig) {
  const int saved = errno;
  const char c = static_cast<char>(sig);
  if (write(g_signal_pipe[1], &c, 1) < 0) {
    // Nothing else can be done here.
  }
  errno = saved;
}

// Installed with SA_RESETHAND: the action is back at its default as this starts, so a second
// fault (here, on the watcher while it writes, on another thread) ends the process at once.
// Waits for the files, then raises the signal again: it is delivered, at its default action,
// when this returns (a fault's instruction would fault again anyway).
extern "C" HOOKPROF_NO_INSTRUMENT void OnFatalSignal(int sig) {
  const char c = static_cast<char>(sig | kFatal);
  if (static_cast<int>(syscall(SYS_gettid)) != g_watcher_tid &&
      write(g_signal_pipe[1], &c, 1) == 1) {
    pollfd done = {g_done_pipe[0], POLLIN, 0};
    while (poll(&done, 1, kFatalWriteSeconds * 1000) < 0 && errno == EINTR) {
    }
  }
  raise(sig);
}

void SignalWatcher() {
  instrument::MarkCurrentThreadInternal();
  g_watcher_tid = static_cast<int>(syscall(SYS_gettid));
  char c = 0;
  while (read(g_signal_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  const int sig = c & 0x7f;
  if (c & kFatal) {
    fprintf(stderr, "hookprof: signal %d (%s): writing the whole run's files before the end\n", sig,
            strsignal(sig));
  }
  g_write();
  if (c & kFatal) {  // The faulting thread raises it again.
    if (write(g_done_pipe[1], &c, 1) < 0) {
      // The handler's wait ends at its timeout.
    }
    return;
  }
  signal(sig, SIG_DFL);
  sigset_t one;  // Blocked here, as on all of hookprof's threads.
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  raise(sig);
}

// Installs `handler` for each signal still at its default action; whether any was.
template <size_t N>
bool InstallWhereDefault(const int (&signals)[N], void (*handler)(int), int flags) {
  bool any = false;
  for (int sig : signals) {
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa = {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = flags;
    any |= sigaction(sig, &sa, nullptr) == 0;
  }
  return any;
}

// Puts back the default action of each signal whose handler is still `handler`.
template <size_t N>
void RestoreDefault(const int (&signals)[N], void (*handler)(int)) {
  for (int sig : signals) {
    struct sigaction now;
    if (sigaction(sig, nullptr, &now) == 0 && now.sa_handler == handler) signal(sig, SIG_DFL);
  }
}

}  // namespace

void WriteExitOutputs(const ExitOutputs& outputs) {
  if (!outputs.profile.empty()) WriteProfile(outputs.profile, outputs.run_nanos);
  if (!outputs.trace.empty()) WriteFlightRecord(outputs.trace, outputs.trace_filter);
  if (!outputs.coverage.empty()) WriteCoverage(outputs.coverage);
  if (!outputs.latency.empty()) WriteLatency(outputs.latency);
  if (!outputs.exclusions.empty()) WriteExclusions(outputs.exclusions, outputs.run_nanos);
}

void InstallTerminationWriter(void (*write)()) {
  if (g_signal_pipe[0] >= 0 || pipe2(g_signal_pipe, O_CLOEXEC) != 0) return;
  if (pipe2(g_done_pipe, O_CLOEXEC) != 0) {
    close(g_signal_pipe[0]);
    close(g_signal_pipe[1]);
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
    return;
  }
  g_write = write;
  bool any = InstallWhereDefault(kTerminatingSignals, &OnTerminatingSignal, SA_RESTART);
  // SA_ONSTACK: a stack overflow's SIGSEGV reaches the handler where the thread has an
  // alternate stack (where it has none, the kernel ends the process, as without hookprof).
  any |= InstallWhereDefault(kFatalSignals, &OnFatalSignal, SA_RESETHAND | SA_ONSTACK);
  if (any) {
    instrument::ProgramSignalsBlocked blocked;  // From the watcher's first instruction.
    std::thread(&SignalWatcher).detach();
  }
}

void ForgetTerminationWriterInChild() {
  if (g_signal_pipe[0] < 0) return;
  RestoreDefault(kTerminatingSignals, &OnTerminatingSignal);
  RestoreDefault(kFatalSignals, &OnFatalSignal);
  for (int* fds : {g_signal_pipe, g_done_pipe}) {
    close(fds[0]);
    close(fds[1]);
    fds[0] = fds[1] = -1;
  }
}

int64_t ProcessStartBoottimeNanos() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return instrument::BoottimeNanos();
  const char* p = stat.c_str() + paren + 2;
  for (int field = 3; field < 22 && *p; ++field) {
    p = strchr(p, ' ');
    if (p == nullptr) return instrument::BoottimeNanos();
    ++p;
  }
  const long long ticks = atoll(p);
  return ticks * (1000000000LL / sysconf(_SC_CLK_TCK));
}

}  // namespace runtime
}  // namespace hookprof
