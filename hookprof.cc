#include "hookprof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <new>
#include <mutex>
#include <thread>

#include "instrument/contention.h"
#include "instrument/coverage.h"
#include "instrument/cpu_sampler.h"
#include "instrument/heap_sampler.h"
#include "instrument/thread_state.h"
#include "runtime/coverage_report.h"
#include "runtime/cpu_profile.h"
#include "runtime/metrics.h"
#include "runtime/profile_builder.h"
#include "runtime/snapshot.h"
#include "runtime/symbolizer.h"
#include "runtime/trace.h"
#include "server/handlers.h"
#include "server/http_server.h"

namespace hookprof {
namespace {

struct State {
  std::mutex mu;
  Options options;
  server::Env env;
  std::unique_ptr<server::HttpServer> server;
  bool atexit_registered = false;
  int64_t start_nanos = 0;
  // Problems found by OptionsFromEnvironment, reported by the next Use.
  std::string env_error;
  // Set in the child of a fork(): the parent's server threads do not exist there.
  bool forked_child = false;
};

// Never destroyed: hooks and connection threads may outlive static destructors.
State& GlobalState() {
  static State* state = new State();
  return *state;
}

int64_t MonotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);  // Same origin as /proc/self/stat starttime.
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Process start in CLOCK_BOOTTIME terms, from /proc/self/stat's starttime (clock ticks
// since boot).
int64_t ProcessStartNanos() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return MonotonicNanos();
  const char* p = stat.c_str() + paren + 2;
  for (int field = 3; field < 22 && *p; ++field) {
    p = strchr(p, ' ');
    if (p == nullptr) return MonotonicNanos();
    ++p;
  }
  const long long ticks = atoll(p);
  return ticks * (1000000000LL / sysconf(_SC_CLK_TCK));
}

bool ParseInt(const char* name, int min, int max, int* out, std::string* error) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return true;
  char* end = nullptr;
  const long n = strtol(v, &end, 10);
  if (*end != '\0' || n < min || n > max) {
    *error += std::string(error->empty() ? "" : "; ") + name + "=\"" + v +
              "\" is not an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
              "]";
    return false;
  }
  *out = static_cast<int>(n);
  return true;
}

// A non-negative 64-bit value from the environment; `what` names it in the error.
void ParseCount(const char* name, const char* what, int64_t* out, std::string* error) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return;
  char* end = nullptr;
  errno = 0;
  const long long n = strtoll(v, &end, 10);
  if (*end != '\0' || n < 0 || errno == ERANGE) {
    *error += std::string(error->empty() ? "" : "; ") + name + "=\"" + v +
              "\" is not a non-negative " + what;
    return;
  }
  *out = n;
}

std::string ResolveOutPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* outputs = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  return outputs != nullptr && *outputs != '\0' ? std::string(outputs) + "/" + path : path;
}

void WriteWholeRunProfile(const std::string& path, int64_t duration_nanos) {
  const runtime::Snapshot all = runtime::Snapshot::Delta(runtime::Snapshot(),
                                                         runtime::Snapshot::Take());
  runtime::ProfileBuilder builder(runtime::Symbolizer::Current());
  runtime::Snapshot whole = all;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  whole.time_nanos = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec - duration_nanos;
  runtime::BuildCpuProfile(whole, duration_nanos, instrument::CpuSamplingPeriodNanos(), &builder);
  if (!whole.HasCalls() && instrument::CoverageActive()) {
    // The cheap mode, as the profile endpoint has it: calls from coverage function entries.
    instrument::CoverageCounts counts;
    instrument::CollectCoverage(&counts);
    if (runtime::AddCoverageCalls(counts, &builder) != 0) {
      builder.AddComment("hookprof: calls/count from sanitizer-coverage function entries "
                         "(no -finstrument-functions, so no call paths)");
    }
  }
  const std::string data = builder.Finish();
  FILE* f = fopen(path.c_str(), "wb");
  if (f == nullptr || fwrite(data.data(), 1, data.size(), f) != data.size()) {
    fprintf(stderr, "hookprof: cannot write the profile to %s\n", path.c_str());
  } else {
    fprintf(stderr, "hookprof: wrote the whole run's CPU profile to %s\n", path.c_str());
  }
  if (f != nullptr) fclose(f);
}

// The whole run's sanitizer coverage, in the format the file name asks for.
void WriteCoverage(const std::string& path) {
  if (!instrument::CoverageActive()) {
    fprintf(stderr, "hookprof: no sanitizer coverage in this program; %s not written\n",
            path.c_str());
    return;
  }
  instrument::CoverageCounts counts;
  instrument::CollectCoverage(&counts);
  runtime::CoverageView view(counts, runtime::Symbolizer::Current());
  auto ends_with = [&path](const char* suffix) {
    const size_t n = strlen(suffix);
    return path.size() >= n && path.compare(path.size() - n, n, suffix) == 0;
  };
  std::string data, error;
  if (ends_with(".txt")) {
    data = runtime::CoverageText(view, "the whole run");
  } else if (!view.ResolveLines(&error)) {
    fprintf(stderr, "hookprof: coverage not written to %s: %s\n", path.c_str(), error.c_str());
    return;
  } else if (ends_with(".pb.gz")) {
    runtime::ProfileBuilder builder(runtime::Symbolizer::Current());
    runtime::BuildCoverageProfile(view, 0, "the whole run", &builder);
    data = builder.Finish();
  } else {
    data = runtime::CoverageLcov(view);
  }
  FILE* f = fopen(path.c_str(), "wb");
  if (f == nullptr || fwrite(data.data(), 1, data.size(), f) != data.size()) {
    fprintf(stderr, "hookprof: cannot write the coverage to %s\n", path.c_str());
  } else {
    fprintf(stderr, "hookprof: wrote the whole run's coverage to %s\n", path.c_str());
  }
  if (f != nullptr) fclose(f);
}

runtime::TraceFilter TraceFilterOf(const Options& o) {
  runtime::TraceFilter f;
  f.min_ns = o.trace_min_ns;
  f.max_depth = o.trace_depth;
  f.include = o.trace_include;
  f.exclude = o.trace_exclude;
  return f;
}

void WriteFlightRecord(const std::string& path, const runtime::TraceFilter& filter) {
  const bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  FILE* f = fopen(path.c_str(), "wb");
  if (f == nullptr) {
    fprintf(stderr, "hookprof: cannot write the trace to %s\n", path.c_str());
    return;
  }
  bool ok = true;
  const runtime::TraceStats stats = runtime::WriteTrace(
      runtime::TraceStart::Beginning(), filter,
      json ? runtime::TraceFormat::kJson : runtime::TraceFormat::kPerfetto,
      [f, &ok](const std::string& chunk) {
        ok &= fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size();
      });
  ok &= fclose(f) == 0;
  fprintf(stderr, "hookprof: %s the trace to %s (%llu slices, %llu events lost)\n",
          ok ? "wrote" : "could not fully write", path.c_str(),
          static_cast<unsigned long long>(stats.slices),
          static_cast<unsigned long long>(stats.lost_events));
}

// SIGTERM and SIGINT would end the process without running atexit handlers: where the program
// left them at their default action, a handler wakes a watcher thread (a pipe write is all a
// signal handler may safely do) that writes the profile and trace files, then restores the
// default action and re-raises the signal, so the process still ends the way it would have.
int g_signal_pipe[2] = {-1, -1};

extern "C" HOOKPROF_NO_INSTRUMENT void OnTerminatingSignal(int sig) {
  const int saved = errno;
  const char c = static_cast<char>(sig);
  if (write(g_signal_pipe[1], &c, 1) < 0) {
    // Nothing else can be done here.
  }
  errno = saved;
}

void WriteOutputs();

void SignalWatcher() {
  instrument::MarkCurrentThreadInternal();
  char sig = 0;
  while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
  }
  WriteOutputs();
  signal(sig, SIG_DFL);
  raise(sig);
}

void InstallSignalWriters() {
  if (g_signal_pipe[0] >= 0 || pipe2(g_signal_pipe, O_CLOEXEC) != 0) return;
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

void AtExit() {
  WriteOutputs();
  instrument::StopCpuSampling();
}

// After fork() the child has one thread and copies of everything: the server object refers to
// threads that only exist in the parent, so it is dropped unstopped (stopping would join them),
// and the child does not write the parent's output files at its exit. The child records on;
// calling Use again starts its own server.
// The parent's servers abandoned in this (child) process; kept reachable so that leak checkers
// see them as held, not lost.
std::vector<server::HttpServer*>* g_abandoned_servers = nullptr;

void OnForkChild() {
  State& st = GlobalState();
  new (&st.mu) std::mutex();  // It may have been held by a parent thread at the fork.
  if (st.server) {            // Not stopped: its threads are gone.
    if (g_abandoned_servers == nullptr) g_abandoned_servers = new std::vector<server::HttpServer*>;
    g_abandoned_servers->push_back(st.server.release());
  }
  st.forked_child = true;
}

// Writes HOOKPROF_PROFILE_OUT, HOOKPROF_TRACE_OUT and HOOKPROF_COVERAGE_OUT, once (exit or
// terminating signal).
void WriteOutputs() {
  static std::atomic<bool> written{false};
  if (GlobalState().forked_child) return;
  if (written.exchange(true)) return;
  instrument::ScopedGuard guard;
  State& st = GlobalState();
  std::string out, trace_out, coverage_out;
  runtime::TraceFilter filter;
  int64_t start = 0;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    if (st.server) st.server->Stop();
    out = st.options.profile_out;
    trace_out = st.options.trace_out;
    coverage_out = st.options.coverage_out;
    filter = TraceFilterOf(st.options);
    start = st.start_nanos;
  }
  if (!out.empty()) WriteWholeRunProfile(ResolveOutPath(out), MonotonicNanos() - start);
  if (!trace_out.empty()) WriteFlightRecord(ResolveOutPath(trace_out), filter);
  if (!coverage_out.empty()) WriteCoverage(ResolveOutPath(coverage_out));
}

}  // namespace

Options OptionsFromEnvironment() {
  Options o;
  std::string env_error;
  if (const char* v = getenv("HOOKPROF_ADDR"); v != nullptr && *v != '\0') o.address = v;
  if (const char* v = getenv("HOOKPROF_CONTEXT_PATH"); v != nullptr) o.context_path = v;
  if (const char* v = getenv("HOOKPROF_PROFILE_OUT"); v != nullptr) o.profile_out = v;
  if (const char* v = getenv("HOOKPROF_SERVE"); v != nullptr && strcmp(v, "0") == 0) {
    o.serve = false;
  }
  if (const char* v = getenv("HOOKPROF_MODE"); v != nullptr && *v != '\0') o.mode = v;
  if (const char* v = getenv("HOOKPROF_ALLOW_REMOTE"); v != nullptr) {
    o.allow_remote = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
  }
  if (const char* v = getenv("HOOKPROF_TOKEN"); v != nullptr) o.token = v;
  ParseCount("HOOKPROF_HEAP_RATE", "byte count", &o.heap_rate, &env_error);
  ParseCount("HOOKPROF_MUTEX_FRACTION", "integer", &o.mutex_fraction, &env_error);
  ParseCount("HOOKPROF_BLOCK_RATE", "nanosecond count", &o.block_rate, &env_error);
  if (const char* v = getenv("HOOKPROF_TRACE_OUT"); v != nullptr) o.trace_out = v;
  if (const char* v = getenv("HOOKPROF_COVERAGE_OUT"); v != nullptr) o.coverage_out = v;
  if (const char* v = getenv("HOOKPROF_TRACE_INCLUDE"); v != nullptr) o.trace_include = v;
  if (const char* v = getenv("HOOKPROF_TRACE_EXCLUDE"); v != nullptr) o.trace_exclude = v;
  int min_ns = 0;
  if (ParseInt("HOOKPROF_TRACE_MIN_NS", 0, 2000000000, &min_ns, &env_error)) o.trace_min_ns = min_ns;
  ParseInt("HOOKPROF_TRACE_DEPTH", 0, 4096, &o.trace_depth, &env_error);
  if (const char* v = getenv("HOOKPROF_TRACE_BUFFER"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    const unsigned long long n = strtoull(v, &end, 10);
    if (*end != '\0' || n < 8192 || n > (8ull << 30)) {
      env_error += std::string(env_error.empty() ? "" : "; ") + "HOOKPROF_TRACE_BUFFER=\"" + v +
                   "\" is not a byte count in [8192, 8589934592]";
    } else {
      o.trace_buffer_bytes = n;
    }
  }
  ParseInt("HOOKPROF_CPU_HZ", 0, 10000, &o.cpu_hz, &env_error);
  ParseInt("HOOKPROF_MAX_SECONDS", 1, 86400, &o.max_profile_seconds, &env_error);
  ParseInt("HOOKPROF_MAX_WINDOWS", 1, 1024, &o.max_profile_windows, &env_error);
  ParseInt("HOOKPROF_MAX_CONNECTIONS", 1, 4096, &o.max_connections, &env_error);
  State& st = GlobalState();
  std::lock_guard<std::mutex> lock(st.mu);
  st.env_error = env_error.empty() ? "" : "hookprof: " + env_error;
  return o;
}

bool Use(const Options& options, std::string* error) {
  instrument::ScopedGuard guard;  // Nothing below is recorded, whatever flags built it.
  std::string local_error;
  std::string& err = error != nullptr ? *error : local_error;
  State& st = GlobalState();
  std::lock_guard<std::mutex> lock(st.mu);
  err = st.env_error;
  st.env_error.clear();
  if (st.start_nanos == 0) {
    st.start_nanos = ProcessStartNanos();
    runtime::NoteTraceEpoch();
  }
  if (st.server) {
    st.server->Stop();
    st.server.reset();
  }
  st.options = options;
  server::Env env;
  if (!server::NormalizeContextPath(options.context_path, &env.context_path)) {
    err = "hookprof: invalid context path \"" + options.context_path + "\"";
  }
  env.max_profile_seconds = options.max_profile_seconds > 0 ? options.max_profile_seconds : 1;
  env.max_profile_windows = options.max_profile_windows > 0 ? options.max_profile_windows : 1;
  env.token = options.token;
  instrument::SetHeapSampleRate(options.heap_rate);
  instrument::SetMutexProfileFraction(options.mutex_fraction);
  instrument::SetBlockProfileRate(options.block_rate);
  instrument::Mode mode;
  if (!server::ParseMode(options.mode, &mode)) {
    err += std::string(err.empty() ? "" : "; ") + "hookprof: invalid mode \"" + options.mode +
           "\" (want off, profile or trace)";
  } else {
    instrument::SetTraceRingEvents(options.trace_buffer_bytes / sizeof(uint64_t));
    instrument::SetMode(mode);
  }
  st.env = env;

  instrument::StopCpuSampling();
  if (options.cpu_hz > 0) {
    if (int rc = instrument::StartCpuSampling(options.cpu_hz); rc != 0) {
      err += std::string(err.empty() ? "" : "; ") + "hookprof: CPU sampling unavailable: " +
             strerror(rc);
    }
  }
  if (std::string reason; !runtime::ValidateTraceFilter(TraceFilterOf(options), &reason)) {
    err += std::string(err.empty() ? "" : "; ") + "hookprof: trace filter: " + reason;
  }
  if (!st.atexit_registered) {
    st.atexit_registered = true;
    atexit(&AtExit);
    pthread_atfork(nullptr, nullptr, &OnForkChild);
  }
  st.forked_child = false;  // Use in a forked child: its own outputs and server from now on.
  if (!options.profile_out.empty() || !options.trace_out.empty() ||
      !options.coverage_out.empty()) {
    InstallSignalWriters();
  }
  if (options.serve && err.empty()) {
    server::ServerOptions so;
    so.address = options.address;
    so.allow_remote = options.allow_remote;
    so.max_connections = options.max_connections > 0 ? options.max_connections : 1;
    std::string serr;
    st.server = server::HttpServer::Start(so, env, &serr);
    if (!st.server) {
      err = "hookprof: " + serr;
    } else {
      runtime::StartMetrics();  // The charts page's history starts now, not when it is opened.
      fprintf(stderr, "hookprof: serving http://%s:%d%s/debug/pprof/\n",
              options.address.substr(0, options.address.rfind(':')).c_str(), st.server->port(),
              env.context_path.c_str());
    }
  }
  if (!err.empty() && error == nullptr) fprintf(stderr, "%s\n", err.c_str());
  return err.empty();
}

void Stop() {
  instrument::ScopedGuard guard;
  State& st = GlobalState();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.server) {
    st.server->Stop();
    st.server.reset();
  }
  instrument::StopCpuSampling();
}

int Port() {
  State& st = GlobalState();
  std::lock_guard<std::mutex> lock(st.mu);
  return st.server ? st.server->port() : 0;
}

HttpResponse HandleHttp(const std::string& method, const std::string& target,
                        const std::string& body, const std::string& authorization) {
  instrument::ScopedGuard guard;
  server::Env env;
  {
    State& st = GlobalState();
    std::lock_guard<std::mutex> lock(st.mu);
    env = st.env;
  }
  env.wait = [](int64_t nanos) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(nanos));
    return true;
  };
  server::Request req{method, target, body, "", authorization};
  const server::Response r = server::HandleRequest(req, env);
  HttpResponse out;
  out.status = r.status;
  out.headers.emplace_back("Content-Type", r.content_type);
  out.headers.emplace_back("X-Content-Type-Options", "nosniff");
  for (const auto& h : r.headers) out.headers.push_back(h);
  out.body = r.body;
  return out;
}

}  // namespace hookprof
