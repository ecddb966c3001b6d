#include "runtime/outputs/exit_outputs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "instrument/attributes.h"
#include "instrument/clock.h"
#include "instrument/coverage.h"
#include "instrument/cpu_sampler.h"
#include "instrument/thread_state.h"
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

void WriteFile(const std::string& path, const std::string& data, const char* what) {
  FILE* f = fopen(path.c_str(), "wb");
  bool ok = f != nullptr && fwrite(data.data(), 1, data.size(), f) == data.size();
  if (f != nullptr) ok &= fclose(f) == 0;
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
  FILE* f = fopen(path.c_str(), "wb");
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
  ok &= fclose(f) == 0;
  fprintf(stderr, "hookprof: %s the trace to %s (%llu slices, %llu events lost)\n",
          ok ? "wrote" : "could not fully write", path.c_str(),
          static_cast<unsigned long long>(stats.slices),
          static_cast<unsigned long long>(stats.lost_events));
}

// A signal handler may only write to the pipe; the watcher thread does the rest.
int g_signal_pipe[2] = {-1, -1};
void (*g_write)() = nullptr;

extern "C" HOOKPROF_NO_INSTRUMENT void OnTerminatingSignal(int sig) {
  const int saved = errno;
  const char c = static_cast<char>(sig);
  if (write(g_signal_pipe[1], &c, 1) < 0) {
    // Nothing else can be done here.
  }
  errno = saved;
}

void SignalWatcher() {
  instrument::MarkCurrentThreadInternal();
  char sig = 0;
  while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
  }
  g_write();
  signal(sig, SIG_DFL);
  raise(sig);
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
  g_write = write;
  bool any = false;
  for (int sig : {SIGTERM, SIGINT}) {
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa = {};
    sa.sa_handler = &OnTerminatingSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, nullptr);
    any = true;
  }
  if (any) std::thread(&SignalWatcher).detach();
}

void ForgetTerminationWriterInChild() {
  if (g_signal_pipe[0] < 0) return;
  for (int sig : {SIGTERM, SIGINT}) {
    struct sigaction now;
    if (sigaction(sig, nullptr, &now) == 0 && now.sa_handler == &OnTerminatingSignal) {
      signal(sig, SIG_DFL);
    }
  }
  close(g_signal_pipe[0]);
  close(g_signal_pipe[1]);
  g_signal_pipe[0] = g_signal_pipe[1] = -1;
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
