// The public API's lifecycle: Use (options -> samplers, recording mode, server), Stop, Port,
// HandleHttp, and the exit-time outputs (at exit, on SIGTERM/SIGINT, never in a forked child).
#include "hookprof.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "instrument/mode.h"
#include "instrument/patching/call_sites.h"
#include "instrument/samplers/contention.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/samplers/heap_sampler.h"
#include "instrument/state/clock.h"
#include "instrument/state/thread_state.h"
#include "instrument/state/tsc.h"
#include "options.h"
#include "runtime/budget/budget.h"
#include "runtime/charts/metrics.h"
#include "runtime/outputs/exit_outputs.h"
#include "runtime/prometheus/function_metrics.h"
#include "runtime/reports/functions.h"
#include "runtime/symbols/frame_rules_builder.h"
#include "runtime/trace/trace.h"
#include "runtime/windows/windows.h"
#include "server/http/http_server.h"
#include "server/router.h"

namespace hookprof {
namespace {

struct State {
  std::mutex mu;
  Options options;
  server::Env env;
  std::unique_ptr<server::HttpServer> server;
  bool atexit_registered = false;
  int64_t start_nanos = 0;  // CLOCK_BOOTTIME at the process's start.
  // Set in the child of a fork(): the parent's server threads do not exist there.
  bool forked_child = false;
  std::string warnings;  // The last Use's, for the index page.
};

// Never destroyed: hooks and connection threads may outlive static destructors.
State& GlobalState() {
  static State* state = new State();
  return *state;
}

runtime::TraceFilter TraceFilterOf(const Options& o) {
  runtime::TraceFilter f;
  f.min_ns = o.trace_min_ns;
  f.max_depth = o.trace_depth;
  f.include = o.trace_include;
  f.exclude = o.trace_exclude;
  return f;
}

void Join(std::string* error, const std::string& what) {
  *error += (error->empty() ? "" : "; ") + what;
}

// Writes HOOKPROF_PROFILE_OUT, _TRACE_OUT, _COVERAGE_OUT, _LATENCY_OUT and _EXCLUSIONS_OUT, once
// (exit or terminating signal), after stopping the server.
void WriteOutputs() {
  static std::atomic<bool> written{false};
  if (GlobalState().forked_child) return;
  if (written.exchange(true)) return;
  instrument::ScopedGuard guard;
  State& st = GlobalState();
  runtime::ExitOutputs outputs;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    if (st.server) st.server->Stop();
    outputs.profile = options_internal::ResolveOutPath(st.options.profile_out);
    outputs.trace = options_internal::ResolveOutPath(st.options.trace_out);
    outputs.coverage = options_internal::ResolveOutPath(st.options.coverage_out);
    outputs.latency = options_internal::ResolveOutPath(st.options.latency_out);
    outputs.exclusions = options_internal::ResolveOutPath(st.options.exclusions_out);
    outputs.trace_filter = TraceFilterOf(st.options);
    outputs.run_nanos = instrument::BoottimeNanos() - st.start_nanos;
  }
  runtime::WriteExitOutputs(outputs);
}

void AtExit() {
  WriteOutputs();
  instrument::StopCpuSampling();
}

// After fork() the child has one thread and copies of everything: the server object refers to
// threads that only exist in the parent, so it is dropped unstopped (stopping would join them),
// and the child does not write the parent's output files at its exit. Signals sent to the child
// are the child's (the parent's termination writer is forgotten), and the parent's trace
// windows end in the child (back to the mode from before them). The child records on in that
// mode; calling Use again starts its own server and outputs.
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
  runtime::ForgetTerminationWriterInChild();
  runtime::EndTraceSessionsInChild();
}

// An _OUT file that cannot be written is said at start, not found out at exit.
void CheckOutPath(const char* variable, const std::string& spelt, std::string* warning) {
  if (spelt.empty()) return;
  const std::string path = options_internal::ResolveOutPath(spelt);
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  // The file is written beside its name and renamed (exit_outputs.cc): the folder must be
  // writable, whether or not the file exists.
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    Join(warning, std::string(variable) + "=" + spelt + ": " + dir + " is not writable (" +
                      strerror(errno) + "): nothing will be written there");
  }
}

// Applies the options to the recorder and samplers; problems are added to `err`.
void ApplyToRecorder(const Options& options, std::string* err) {
  instrument::SetHeapSampleRate(options.heap_rate);
  instrument::SetMutexProfileFraction(options.mutex_fraction);
  instrument::SetBlockProfileRate(options.block_rate);
  instrument::Mode mode;
  if (!instrument::ParseMode(options.mode.c_str(), &mode)) {
    Join(err,
         "hookprof: invalid mode \"" + options.mode + "\" (want off, profile, timing or trace)");
  } else {
    runtime::SetTraceMemoryBudget(options.trace_memory_bytes);
    instrument::SetTraceRingEvents(options.trace_buffer_bytes / sizeof(uint64_t));
    instrument::SetSiteRemovalEnabled(options.remove_hooks);
    instrument::SetMode(mode);
  }
  instrument::StopCpuSampling();
  if (options.cpu_hz > 0) {
    runtime::PublishFrameRules();  // Before the first sample: frameless functions' callers.
    if (int rc = instrument::StartCpuSampling(options.cpu_hz); rc != 0) {
      Join(err, std::string("hookprof: CPU sampling unavailable: ") + strerror(rc));
    }
  }
  std::string reason;
  if (!runtime::ValidateTraceFilter(TraceFilterOf(options), &reason)) {
    Join(err, "hookprof: trace filter: " + reason);
  }
  // A bad pattern is an error; a build that cannot switch functions keeps its hooks.
  const auto switch_at_start = [err](const char* variable, const std::string& pattern,
                                     bool hooked) {
    std::string reason;
    if (size_t changed = 0;
        pattern.empty() || runtime::SwitchFunctions(pattern, hooked, &changed, &reason,
                                                    runtime::SwitchedBy::kStartOption)) {
      return;
    }
    if (reason.rfind("bad pattern", 0) == 0) {
      Join(err, std::string("hookprof: ") + variable + ": " + reason);
    } else {
      fprintf(stderr, "hookprof: warning: %s not applied: %s\n", variable, reason.c_str());
    }
  };
  switch_at_start("HOOKPROF_UNHOOK", options.unhook, false);
  switch_at_start("HOOKPROF_HOOK", options.hook, true);
  if (!runtime::SetHookBudget(options.budget_percent, &reason) && options.budget_percent != 0) {
    fprintf(stderr, "hookprof: warning: HOOKPROF_BUDGET_PERCENT not applied: %s\n", reason.c_str());
  }
  runtime::FunctionMetricsConfig metrics;
  metrics.functions = options.metrics_functions;
  metrics.top = options.metrics_top;
  metrics.max_functions = options.metrics_max_functions;
  if ((!options.metrics_buckets.empty() &&
       !runtime::ParseMetricBuckets(options.metrics_buckets, &metrics.buckets, &reason)) ||
      !runtime::ParseMetricLabels(options.metrics_labels, &metrics.labels, &reason) ||
      !runtime::ConfigureFunctionMetrics(metrics, &reason)) {
    Join(err, "hookprof: " + reason);
  }
}

}  // namespace

bool Use(const Options& options, std::string* error) {
  instrument::ScopedGuard guard;  // Nothing below is recorded, whatever flags built it.
  std::string local_error;
  std::string& err = error != nullptr ? *error : local_error;
  State& st = GlobalState();
  std::lock_guard<std::mutex> lock(st.mu);
  err.clear();
  if (std::string env_error = options_internal::TakeEnvironmentError(); !env_error.empty()) {
    Join(&err, "hookprof: " + env_error);
  }
  // Misspelt variables do not stop hookprof, but they are said once, as sanitizers say them.
  st.warnings.clear();
  std::string warning = options_internal::TakeEnvironmentWarning();
  CheckOutPath("HOOKPROF_PROFILE_OUT", options.profile_out, &warning);
  CheckOutPath("HOOKPROF_TRACE_OUT", options.trace_out, &warning);
  CheckOutPath("HOOKPROF_COVERAGE_OUT", options.coverage_out, &warning);
  CheckOutPath("HOOKPROF_LATENCY_OUT", options.latency_out, &warning);
  CheckOutPath("HOOKPROF_EXCLUSIONS_OUT", options.exclusions_out, &warning);
  if (!instrument::TscInvariant() && !options_internal::StartedByAnotherHookprofProcess()) {
    Join(&warning,
         "this CPU reports no invariant TSC: wall times, latencies and trace timestamps may "
         "be off (call counts and CPU samples are not affected)");
  }
  if (!warning.empty()) {
    st.warnings = "hookprof: warning: " + warning;
    fprintf(stderr, "%s\n", st.warnings.c_str());
  }
  std::string invalid;
  const bool valid = options_internal::Validate(options, &invalid);
  if (!valid) Join(&err, "hookprof: " + invalid);
  if (st.start_nanos == 0) {
    st.start_nanos = runtime::ProcessStartBoottimeNanos();
    runtime::NoteTraceEpoch();
  }
  if (st.server) {
    st.server->Stop();
    st.server.reset();
  }
  st.options = options;
  server::Env env;
  if (!server::NormalizeContextPath(options.context_path, &env.context_path)) {
    Join(&err, "hookprof: invalid context path \"" + options.context_path + "\"");
  }
  if (!server::NormalizeContextPath(options.metrics_path, &env.metrics_path) ||
      env.metrics_path.empty() || env.metrics_path.compare(0, 7, "/debug/") == 0) {
    Join(&err, "hookprof: invalid metrics path \"" + options.metrics_path +
                   "\" (a path such as /metrics, not under /debug/)");
    env.metrics_path = "/metrics";
  }
  env.max_profile_seconds = options.max_profile_seconds;
  env.max_profile_windows = options.max_profile_windows;
  env.token = options.token;
  // Bound to loopback (the only way without allow_remote): only loopback Host names.
  env.loopback_only = !options.allow_remote;
  for (size_t at = 0; at < options.allowed_hosts.size();) {
    size_t comma = options.allowed_hosts.find(',', at);
    if (comma == std::string::npos) comma = options.allowed_hosts.size();
    if (comma > at) env.allowed_hosts.push_back(options.allowed_hosts.substr(at, comma - at));
    at = comma + 1;
  }
  if (options.allow_remote && options.token.empty()) {
    Join(&err,
         "hookprof: allow_remote (HOOKPROF_ALLOW_REMOTE) without a token "
         "(HOOKPROF_TOKEN) would serve the program's code and data to anyone who can "
         "reach it: set a token");
  }
  env.warnings = st.warnings;
  st.env = env;
  if (valid) ApplyToRecorder(options, &err);
  if (!st.atexit_registered) {
    st.atexit_registered = true;
    atexit(&AtExit);
    at_quick_exit(&AtExit);  // quick_exit skips atexit handlers, not these.
    pthread_atfork(nullptr, nullptr, &OnForkChild);
  }
  st.forked_child = false;  // Use in a forked child: its own outputs and server from now on.
  if (!options.profile_out.empty() || !options.trace_out.empty() || !options.coverage_out.empty() ||
      !options.latency_out.empty() || !options.exclusions_out.empty()) {
    runtime::InstallTerminationWriter(&WriteOutputs);
  }
  if (options.serve && err.empty()) {
    server::ServerOptions so;
    so.address = options.address;
    so.allow_remote = options.allow_remote;
    so.max_connections = options.max_connections;
    std::string serr;
    st.server = server::HttpServer::Start(so, server::MakeApplication(env), &serr);
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
  return HandleHttp(HttpRequest{method, target, body, authorization, "", ""});
}

HttpResponse HandleHttp(const HttpRequest& request) {
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
  env.loopback_only = false;  // The program's server is bound where the program chose.
  server::Request req;
  req.method = request.method;
  req.target = request.target;
  req.body = request.body;
  req.authorization = request.authorization;
  req.host = request.host;
  req.origin = request.origin;
  req.accept = request.accept;
  const server::Response r = server::HandleRequest(req, env);
  HttpResponse out;
  out.status = r.status;
  out.headers.emplace_back("Content-Type", r.content_type);
  out.headers.emplace_back("X-Content-Type-Options", "nosniff");
  for (const auto& h : r.headers) out.headers.push_back(h);
  out.body = server::WholeBody(r);
  return out;
}

}  // namespace hookprof
