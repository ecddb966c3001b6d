#include "server/handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "instrument/coverage.h"
#include "instrument/cpu_sampler.h"
#include "instrument/thread_state.h"
#include "runtime/coverage_report.h"
#include "runtime/metrics.h"
#include "server/charts_assets.h"
#include "runtime/cpu_profile.h"
#include "runtime/contention_profile.h"
#include "runtime/heap_profile.h"
#include "runtime/legacy_cpu_profile.h"
#include "runtime/profile_builder.h"
#include "runtime/snapshot.h"
#include "runtime/symbolizer.h"
#include "runtime/thread_profile.h"
#include "runtime/trace.h"

namespace hookprof {
namespace server {
namespace {

constexpr char kPprofPrefix[] = "/debug/pprof/";

Response Octet(std::string body, const std::string& filename) {
  Response r;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  r.body = std::move(body);
  return r;
}

bool AllowMethods(const Request& req, bool allow_post, Response* error) {
  if (req.method == "GET" || req.method == "HEAD" || (allow_post && req.method == "POST")) {
    return true;
  }
  *error = ErrorResponse(405, "method not allowed: " + req.method);
  error->headers.emplace_back("Allow", allow_post ? "GET, HEAD, POST" : "GET, HEAD");
  return false;
}

// Parses a positive integer of at most `max`; false for anything else.
// A decimal integer in [0, max]; false for anything else (signs, spaces, overflow).
bool ParseNonNegative(const std::string& text, int64_t max, int64_t* out) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *out = std::stoll(text);
  return *out <= max;
}

// A positive integer of at most `max`.
bool ParseSeconds(const std::string& text, int max, int64_t* out) {
  return ParseNonNegative(text, max, out) && *out > 0;
}

// google-pprof (gperftools' Perl pprof) reads only gperftools' legacy formats and fetches with
// curl, so curl gets the legacy format unless it asks for another (format=proto|legacy); the
// response header X-Hookprof-Format says which.
bool WantsLegacy(const Request& req, const Url& url, bool* legacy, Response* error) {
  *legacy = req.user_agent.compare(0, 5, "curl/") == 0;
  auto format = url.query.find("format");
  if (format != url.query.end()) {
    if (format->second != "proto" && format->second != "legacy") {
      *error = ErrorResponse(400, "invalid value for \"format\" - must be proto or legacy");
      return false;
    }
    *legacy = format->second == "legacy";
  }
  return true;
}

Response Profile(const Request& req, const Url& url, const Env& env) {
  bool legacy;
  Response error;
  if (!WantsLegacy(req, url, &legacy, &error)) return error;
  int64_t seconds = 30;  // Go's default.
  auto it = url.query.find("seconds");
  if (it != url.query.end()) {
    if (!ParseSeconds(it->second, env.max_profile_seconds, &seconds)) {
      return ErrorResponse(400, "invalid value for \"seconds\" - must be a positive integer of "
                                "at most " + std::to_string(env.max_profile_seconds));
    }
  }
  const bool coverage = instrument::CoverageActive();
  instrument::CoverageCounts coverage_begin, coverage_end;
  if (coverage) instrument::CollectCoverage(&coverage_begin);
  const runtime::Snapshot begin = runtime::Snapshot::Take();
  if (!env.wait(seconds * 1000000000)) {
    return ErrorResponse(503, "profiling interrupted: the server is shutting down");
  }
  const runtime::Snapshot end = runtime::Snapshot::Take();
  if (coverage) instrument::CollectCoverage(&coverage_end);
  if (legacy) {
    Response r = Octet(runtime::EncodeLegacyCpuProfile(runtime::Snapshot::Delta(begin, end),
                                                       instrument::CpuSamplingPeriodNanos()),
                       "profile");
    r.headers.emplace_back("X-Hookprof-Format", "legacy");
    return r;
  }
  runtime::ProfileBuilder builder(runtime::Symbolizer::Current());
  const runtime::Snapshot delta = runtime::Snapshot::Delta(begin, end);
  runtime::BuildCpuProfile(delta, end.time_nanos - begin.time_nanos,
                           instrument::CpuSamplingPeriodNanos(), &builder);
  if (coverage && !delta.HasCalls()) {
    // No function hooks ran: the cheap mode, function entries from sanitizer coverage.
    const size_t added = runtime::AddCoverageCalls(
        runtime::SubtractCoverage(coverage_end, coverage_begin), &builder);
    if (added != 0) builder.AddComment("hookprof: calls/count from sanitizer-coverage function entries (" +
                       std::to_string(added) +
                       " functions; no -finstrument-functions, so no call paths)");
  }
  if (instrument::CpuSamplingPeriodNanos() == 0) {
    // Calls are still exact; say so rather than serve a profile without CPU quietly.
    builder.AddComment("hookprof: CPU sampling is off (cpu_hz = 0): only calls are measured");
  }
  Response r = Octet(builder.Finish(), "profile");
  r.headers.emplace_back("X-Hookprof-Format", "proto");
  return r;
}

// Trace windows switch recording to trace mode while any is open, then restore the mode.
std::mutex g_trace_mu;
int g_trace_windows = 0;
instrument::Mode g_mode_before_trace = instrument::kModeProfile;

Response Trace(const Url& url, const Env& env) {
  double seconds = 1;  // Go's default.
  auto it = url.query.find("seconds");
  if (it != url.query.end()) {
    char* end = nullptr;
    seconds = strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0' || !(seconds > 0) ||
        seconds > env.max_profile_seconds) {
      return ErrorResponse(400, "invalid value for \"seconds\" - must be a positive number of "
                                "at most " + std::to_string(env.max_profile_seconds));
    }
  }
  runtime::TraceFilter filter;
  runtime::TraceFormat format = runtime::TraceFormat::kPerfetto;
  for (const auto& [key, value] : url.query) {
    int64_t n = 0;
    if (key == "seconds") continue;
    if (key == "format") {
      if (value == "json") {
        format = runtime::TraceFormat::kJson;
      } else if (value != "perfetto") {
        return ErrorResponse(400, "invalid value for \"format\" - must be perfetto or json");
      }
    } else if (key == "min_ns") {
      if (!ParseNonNegative(value, int64_t{1} << 50, &n)) {
        return ErrorResponse(400, "invalid value for \"min_ns\" - must be a non-negative integer");
      }
      filter.min_ns = n;
    } else if (key == "depth") {
      if (!ParseNonNegative(value, instrument::kMaxDepth, &n)) {
        return ErrorResponse(400, "invalid value for \"depth\" - must be an integer in [0, " +
                                      std::to_string(instrument::kMaxDepth) + "]");
      }
      filter.max_depth = static_cast<int>(n);
    } else if (key == "max_slices") {
      if (!ParseNonNegative(value, 100000000, &n) || n == 0) {
        return ErrorResponse(400, "invalid value for \"max_slices\" - must be an integer in "
                                  "[1, 100000000]");
      }
      filter.max_slices = static_cast<uint64_t>(n);
    } else if (key == "include") {
      filter.include = value;
    } else if (key == "exclude") {
      filter.exclude = value;
    } else {
      return ErrorResponse(400, "unknown parameter \"" + key + "\" (trace takes seconds, format, "
                                "min_ns, depth, include, exclude, max_slices)");
    }
  }
  std::string reason;
  if (!runtime::ValidateTraceFilter(filter, &reason)) return ErrorResponse(400, reason);
  {
    std::lock_guard<std::mutex> lock(g_trace_mu);
    if (g_trace_windows++ == 0) {
      g_mode_before_trace = instrument::GetMode();
      if (g_mode_before_trace != instrument::kModeTrace) instrument::SetMode(instrument::kModeTrace);
    }
  }
  // Drain the rings every 10 ms while the window is open, so that they only need to hold what
  // a thread writes in that time (a thread in a hot loop writes millions of events a second).
  runtime::TraceCollector collector(filter, false);
  const int64_t total = static_cast<int64_t>(seconds * 1e9);
  bool completed = true;
  for (int64_t waited = 0; waited < total && completed;) {
    const int64_t step = std::min<int64_t>(total - waited, 10000000);
    completed = env.wait(step);
    const auto poll_start = std::chrono::steady_clock::now();
    collector.Poll();
    // Draining takes time too: it counts against the window, which must not stretch.
    waited += step + std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now() - poll_start).count();
  }
  {
    std::lock_guard<std::mutex> lock(g_trace_mu);
    if (--g_trace_windows == 0 && g_mode_before_trace != instrument::kModeTrace &&
        instrument::GetMode() == instrument::kModeTrace) {
      instrument::SetMode(g_mode_before_trace);
    }
  }
  if (!completed) return ErrorResponse(503, "tracing interrupted: the server is shutting down");
  Response r;
  const runtime::TraceStats stats =
      collector.Write(format, [&r](const std::string& chunk) { r.body += chunk; });
  const bool json = format == runtime::TraceFormat::kJson;
  r.content_type = json ? "application/json" : "application/octet-stream";
  r.headers.emplace_back("Content-Disposition", std::string("attachment; filename=\"") +
                                                    (json ? "trace.json" : "trace.perfetto-trace") +
                                                    "\"");
  r.headers.emplace_back("X-Hookprof-Lost-Events", std::to_string(stats.lost_events));
  r.headers.emplace_back("X-Hookprof-Slices", std::to_string(stats.slices));
  r.headers.emplace_back("X-Hookprof-Dropped-Slices", std::to_string(stats.dropped_slices));
  return r;
}

// Parses Go's `debug` and `seconds` for named profiles. Returns false with the error response.
bool NamedProfileParams(const Url& url, const Env& env, int* debug, int64_t* seconds,
                        Response* error) {
  *debug = 0;
  *seconds = 0;
  auto d = url.query.find("debug");
  if (d != url.query.end()) {
    if (d->second != "0" && d->second != "1" && d->second != "2") {
      *error = ErrorResponse(400, "invalid value for \"debug\" - must be 0, 1 or 2");
      return false;
    }
    *debug = d->second[0] - '0';
  }
  auto sec = url.query.find("seconds");
  if (sec != url.query.end()) {
    if (!ParseSeconds(sec->second, env.max_profile_seconds, seconds)) {
      *error = ErrorResponse(400, "invalid value for \"seconds\" - must be a positive integer");
      return false;
    }
    if (*debug != 0) {
      *error = ErrorResponse(400, "seconds and debug params are incompatible");
      return false;
    }
  }
  return true;
}

// goroutine (threads) and threadcreate: counts of stacks, as profile.proto or Go's texts, or
// as a delta over ?seconds=N (stacks present at the end minus those present at the start).
Response StackCountProfile(const std::string& name, const Url& url, const Env& env) {
  int debug;
  int64_t seconds;
  Response error;
  if (!NamedProfileParams(url, env, &debug, &seconds, &error)) return error;
  const bool threads = name != "threadcreate";
  auto collect = [threads] {
    return threads ? runtime::LiveThreadStacks() : runtime::CreatorStacks();
  };
  const std::string type = threads ? "goroutine" : "threadcreate";
  std::vector<runtime::ThreadStack> stacks = collect();
  std::string filename = name;
  if (seconds > 0) {
    auto key = [](const runtime::ThreadStack& t) {
      std::vector<uint64_t> k = {static_cast<uint64_t>(t.tid)};
      for (uint32_t n : t.nodes) k.push_back(n);
      return k;
    };
    std::map<std::vector<uint64_t>, int> before;
    for (const auto& t : stacks) before[key(t)]++;
    if (!env.wait(seconds * 1000000000)) {
      return ErrorResponse(503, "profiling interrupted: the server is shutting down");
    }
    std::vector<runtime::ThreadStack> now = collect(), delta;
    for (auto& t : now) {
      auto it = before.find(key(t));
      if (it != before.end() && it->second > 0) {
        it->second--;
      } else {
        delta.push_back(std::move(t));
      }
    }
    stacks = std::move(delta);
    filename = name + "-delta";
  }
  auto symbolizer = runtime::Symbolizer::Current();
  if (debug == 1) {
    Response r;
    r.body = runtime::StackCountText(stacks, type, *symbolizer);
    return r;
  }
  if (debug == 2) {
    Response r;
    r.body = threads ? runtime::ThreadDump(stacks, *symbolizer)
                     : runtime::StackCountText(stacks, type, *symbolizer);
    return r;
  }
  runtime::ProfileBuilder builder(symbolizer);
  runtime::BuildStackCountProfile(stacks, type, &builder);
  if (seconds > 0) builder.profile().set_duration_nanos(seconds * 1000000000);
  return Octet(builder.Finish(), filename);
}

// Cumulative tables served as Go serves them: as they are, or with ?seconds=N the change over
// the window (delta(before, after)). False with a 503 in `error` if the server stops meanwhile.
template <typename Collect, typename Delta, typename Table>
bool OverWindow(int64_t seconds, const Env& env, Collect collect, Delta delta, Table* out,
                Response* error) {
  *out = collect();
  if (seconds <= 0) return true;
  if (!env.wait(seconds * 1000000000)) {
    *error = ErrorResponse(503, "profiling interrupted: the server is shutting down");
    return false;
  }
  *out = delta(*out, collect());
  return true;
}

// heap (default inuse_space) and allocs (default alloc_space): the sampled allocations.
Response HeapProfile(const std::string& name, const Request& req, const Url& url,
                     const Env& env) {
  int debug;
  int64_t seconds;
  bool legacy;
  Response error;
  if (!NamedProfileParams(url, env, &debug, &seconds, &error)) return error;
  if (!WantsLegacy(req, url, &legacy, &error)) return error;
  auto gc = url.query.find("gc");
  if (gc != url.query.end() && gc->second != "0" && gc->second != "1") {
    return ErrorResponse(400, "invalid value for \"gc\" - must be 0 or 1");
  }
  // gc=1 is accepted for Go's clients; there is no collector to run first.
  std::vector<instrument::HeapBucket> buckets;
  if (!OverWindow(seconds, env, &instrument::HeapBuckets, &runtime::HeapDelta, &buckets, &error)) {
    return error;
  }
  const std::string filename = seconds > 0 ? name + "-delta" : name;
  auto symbolizer = runtime::Symbolizer::Current();
  const int64_t rate = instrument::HeapSampleRate();
  if (debug != 0 || legacy) {
    Response r;
    r.body = runtime::HeapText(buckets, rate, *symbolizer);
    if (debug == 0) r.headers.emplace_back("X-Hookprof-Format", "legacy");
    return r;
  }
  runtime::ProfileBuilder builder(symbolizer);
  runtime::BuildHeapProfile(buckets, rate, name == "heap" ? "inuse_space" : "alloc_space",
                            &builder);
  if (seconds > 0) builder.profile().set_duration_nanos(seconds * 1000000000);
  return Octet(builder.Finish(), filename);
}

// mutex and block: time spent waiting, from the contention tables. Legacy clients (see
// WantsLegacy) get gperftools' contention text, which is also what debug=1 serves.
Response ContentionProfile(const std::string& name, const Request& req, const Url& url,
                           const Env& env) {
  int debug;
  int64_t seconds;
  bool legacy;
  Response error;
  if (!NamedProfileParams(url, env, &debug, &seconds, &error)) return error;
  if (!WantsLegacy(req, url, &legacy, &error)) return error;
  const instrument::Contention which =
      name == "mutex" ? instrument::Contention::kMutex : instrument::Contention::kBlock;
  std::vector<instrument::ContentionBucket> buckets;
  if (!OverWindow(seconds, env, [which] { return instrument::ContentionBuckets(which); },
                  &runtime::ContentionDelta, &buckets, &error)) {
    return error;
  }
  const std::string filename = seconds > 0 ? name + "-delta" : name;
  auto symbolizer = runtime::Symbolizer::Current();
  if (debug != 0 || legacy) {
    // gperftools' pprof recognises "--- contention" for both; Go writes "--- mutex" for mutex.
    Response r;
    r.body = runtime::ContentionText(
        which == instrument::Contention::kMutex && debug != 0 ? "mutex" : "contention", buckets,
        *symbolizer);
    if (debug == 0) r.headers.emplace_back("X-Hookprof-Format", "legacy");
    return r;
  }
  runtime::ProfileBuilder builder(symbolizer);
  runtime::BuildContentionProfile(buckets, which, &builder);
  if (seconds > 0) builder.profile().set_duration_nanos(seconds * 1000000000);
  return Octet(builder.Finish(), filename);
}

// Coverage counted since start, or since the last POST ?reset=1 (the baseline subtracted).
struct CoverageBaseline {
  std::mutex mu;
  instrument::CoverageCounts counts;
  std::string since = "since start";
};

CoverageBaseline& Baseline() {
  static auto* baseline = new CoverageBaseline;  // Never destroyed (exit with requests in flight).
  return *baseline;
}

Response Coverage(const Request& req, const Url& url, const Env& env) {
  Response error;
  if (!AllowMethods(req, true, &error)) return error;
  for (const auto& [key, value] : url.query) {
    if (key != "format" && key != "seconds" && key != "reset") {
      return ErrorResponse(400, "unknown query parameter \"" + key +
                                    "\" (coverage takes format, seconds, reset)");
    }
  }
  auto reset = url.query.find("reset");
  if (req.method == "POST" || reset != url.query.end()) {
    if (req.method != "POST") return ErrorResponse(405, "reset=1 changes state: send it with POST");
    if (reset == url.query.end() || reset->second != "1" || url.query.size() != 1) {
      return ErrorResponse(400, "POST takes reset=1 and nothing else");
    }
    instrument::CoverageCounts now;
    instrument::CollectCoverage(&now);
    CoverageBaseline& base = Baseline();
    std::lock_guard<std::mutex> lock(base.mu);
    base.counts = std::move(now);
    const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    base.since = std::string("since the reset at ") + when;
    Response r;
    r.body = "coverage counters reset\n";
    return r;
  }
  std::string format = "pprof";
  auto f = url.query.find("format");
  if (f != url.query.end()) format = f->second;
  if (format != "pprof" && format != "lcov" && format != "text") {
    return ErrorResponse(400, "invalid value for \"format\" - must be pprof, lcov or text");
  }
  int64_t seconds = 0;
  auto sec = url.query.find("seconds");
  if (sec != url.query.end() && !ParseSeconds(sec->second, env.max_profile_seconds, &seconds)) {
    return ErrorResponse(400, "invalid value for \"seconds\" - must be a positive integer of "
                              "at most " + std::to_string(env.max_profile_seconds));
  }
  if (!instrument::CoverageActive()) {
    return ErrorResponse(404, "no sanitizer coverage in this program: build it with "
                              "--config=sancov, --config=sancov-func or --config=sancov-gcc");
  }
  instrument::CoverageCounts counts;
  std::string window;
  if (seconds > 0) {
    instrument::CoverageCounts begin, end;
    instrument::CollectCoverage(&begin);
    if (!env.wait(seconds * 1000000000)) {
      return ErrorResponse(503, "profiling interrupted: the server is shutting down");
    }
    instrument::CollectCoverage(&end);
    counts = runtime::SubtractCoverage(end, begin);
    window = "the last " + std::to_string(seconds) + " s";
  } else {
    instrument::CoverageCounts now;
    instrument::CollectCoverage(&now);
    CoverageBaseline& base = Baseline();
    std::lock_guard<std::mutex> lock(base.mu);
    counts = runtime::SubtractCoverage(now, base.counts);
    window = base.since;
  }
  runtime::CoverageView view(counts, runtime::Symbolizer::Current());
  Response r;
  if (format == "text") {
    r.body = runtime::CoverageText(view, window);
    return r;
  }
  std::string reason;
  if (!view.ResolveLines(&reason)) return ErrorResponse(500, reason);
  if (format == "lcov") {
    r.body = runtime::CoverageLcov(view);
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"coverage.info\"");
    return r;
  }
  runtime::ProfileBuilder builder(runtime::Symbolizer::Current());
  runtime::BuildCoverageProfile(view, seconds * 1000000000, window, &builder);
  return Octet(builder.Finish(), seconds > 0 ? "coverage-delta" : "coverage");
}

Response Cmdline() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string args = ss.str();
  if (!args.empty() && args.back() == '\0') args.pop_back();  // Go joins with NUL, no trailer.
  Response r;
  r.body = std::move(args);
  return r;
}

Response Symbol(const Request& req, const Url& url) {
  auto symbolizer = runtime::Symbolizer::Current();
  const std::string& input = req.method == "POST" ? req.body : url.raw_query;
  Response r;
  if (input.empty()) {
    // Clients only check that the number is positive.
    r.body = "num_symbols: " + std::to_string(symbolizer->num_symbols() > 0 ? 1 : 0) + "\n";
    return r;
  }
  std::vector<uint64_t> addresses;
  if (!runtime::ParseAddressList(input, &addresses)) {
    return ErrorResponse(400, "malformed address list: want hexadecimal addresses joined by '+'");
  }
  char buf[40];
  for (uint64_t a : addresses) {
    if (const runtime::Symbol* s = symbolizer->FindSymbol(a)) {
      snprintf(buf, sizeof(buf), "%#llx ", static_cast<unsigned long long>(a));
      r.body += buf + s->name + "\n";
    }
  }
  return r;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* ModeName(instrument::Mode m) {
  switch (m) {
    case instrument::kModeOff: return "off";
    case instrument::kModeProfile: return "profile";
    case instrument::kModeTrace: return "trace";
  }
  return "unknown";
}

Response Index(const Env& env) {
  const runtime::Snapshot snap = runtime::Snapshot::Take();
  uint64_t nodes = 0, dropped = 0, truncated = 0, interrupted = 0, live = 0;
  for (const auto& t : snap.threads) {
    nodes += t.calls.size();
    dropped += t.counters.dropped_paths;
    truncated += t.counters.truncated_frames;
    interrupted += t.counters.interrupted_calls;
    live += t.alive ? 1 : 0;
  }
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
    << HtmlEscape(env.context_path) << "/debug/pprof/</title>"
    << "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
       "td,th{padding:2px 10px;text-align:left}</style></head><body>\n"
    << "<h1>" << HtmlEscape(env.context_path) << "/debug/pprof/</h1>\n"
    << "<p>Set debug=1 as a query parameter to export in legacy text format</p>\n"
    << "<table><tr><th>Count</th><th>Profile</th><th>Description</th></tr>\n"
    << "<tr><td></td><td><a href=\"cmdline\">cmdline</a></td>"
       "<td>The command line invocation of the current program.</td></tr>\n"
    << "<tr><td></td><td><a href=\"profile?seconds=30\">profile</a></td>"
       "<td>CPU profile with exact call counts (sample types samples, cpu, calls). Add "
       "seconds=N for the window; fetch it with go tool pprof.</td></tr>\n"
    << "<tr><td></td><td><a href=\"allocs?debug=1\">allocs</a></td>"
       "<td>A sampling of all past memory allocations (alloc_space by default).</td></tr>\n"
    << "<tr><td></td><td><a href=\"heap?debug=1\">heap</a></td>"
       "<td>A sampling of memory allocations of live objects (inuse_space by default); "
       "sampling rate " << instrument::HeapSampleRate() << " bytes.</td></tr>\n"
    << "<tr><td>" << instrument::ContentionBuckets(instrument::Contention::kBlock).size()
    << "</td><td><a href=\"block?debug=1\">block</a></td>"
       "<td>Stack traces that led to blocking on condition variables and thread joins "
       "(sampling rate " << instrument::BlockProfileRate() << " ns; 0 = off).</td></tr>\n"
    << "<tr><td>" << runtime::LiveThreadStacks().size()
    << "</td><td><a href=\"goroutine?debug=1\">goroutine</a></td>"
       "<td>Stack traces of all live threads (also at <a href=\"threads?debug=1\">threads</a>"
       "). Use debug=2 for a dump with thread names, ids and states.</td></tr>\n"
    << "<tr><td>" << runtime::CreatorStacks().size()
    << "</td><td><a href=\"threadcreate?debug=1\">threadcreate</a></td>"
       "<td>Stack traces that led to the creation of new threads.</td></tr>\n"
    << "<tr><td>" << instrument::ContentionBuckets(instrument::Contention::kMutex).size()
    << "</td><td><a href=\"mutex?debug=1\">mutex</a></td>"
       "<td>Stack traces of waiters for contended mutexes (1 in "
    << instrument::MutexProfileFraction() << " contentions sampled; 0 = off).</td></tr>\n"
    << "<tr><td></td><td><a href=\"trace?seconds=1\">trace</a></td>"
       "<td>Execution trace: every instrumented call on every thread in the window, as a "
       "Perfetto trace (open it in ui.perfetto.dev); format=json for Chrome's trace format; "
       "filters min_ns, depth, include, exclude.</td></tr>\n"
    << "<tr><td></td><td><a href=\"symbol\">symbol</a></td>"
       "<td>Maps addresses to function names (pprof's symbol protocol).</td></tr>\n"
    << "<tr><td></td><td><a href=\"../charts/\">charts</a></td>"
       "<td>Live charts: CPU, memory, threads, calls per second, drops, top functions; "
       "ten minutes of history (JSON at <a href=\"../charts/data\">../charts/data</a>).</td>"
       "</tr>\n"
    << "<tr><td></td><td><a href=\"../coverage?format=text\">coverage</a></td>"
       "<td>Sanitizer coverage (builds with --config=sancov*): pprof hits/count, "
       "format=lcov, format=text; seconds=N; POST reset=1.</td></tr>\n"
    << "</table>\n<h2>Recorder</h2>\n<table>\n"
    << "<tr><td>mode (POST <a href=\"../hookprof/mode\">../hookprof/mode</a>?set=off|profile|"
       "trace)</td><td>" << ModeName(instrument::GetMode()) << "</td></tr>\n"
    << "<tr><td>threads recorded (live)</td><td>" << snap.threads.size() << " (" << live
    << ")</td></tr>\n"
    << "<tr><td>call-path nodes</td><td>" << nodes << "</td></tr>\n"
    << "<tr><td>CPU sampling period</td><td>" << instrument::CpuSamplingPeriodNanos()
    << " ns</td></tr>\n"
    << "<tr><td>call paths dropped (node table full)</td><td>" << dropped << "</td></tr>\n"
    << "<tr><td>calls beyond the stack depth cap</td><td>" << truncated << "</td></tr>\n"
    << "<tr><td>calls from signal handlers inside a hook (not recorded)</td><td>" << interrupted
    << "</td></tr>\n"
    << "<tr><td>CPU samples on unrecorded threads</td><td>" << snap.unattributed_samples
    << "</td></tr>\n</table>\n</body></html>\n";
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = h.str();
  return r;
}

// GET: the recording mode. POST ?set=off|profile|trace: switches every thread at its next hook.
Response ModeEndpoint(const Request& req, const Url& url) {
  Response error;
  if (!AllowMethods(req, true, &error)) return error;
  if (req.method == "POST") {
    auto it = url.query.find("set");
    instrument::Mode mode;
    if (it == url.query.end() || !ParseMode(it->second, &mode)) {
      return ErrorResponse(400, "want POST ?set=off, ?set=profile or ?set=trace");
    }
    instrument::SetMode(mode);
  } else if (!url.query.empty()) {
    return ErrorResponse(405, "changing the mode takes a POST");
  }
  Response r;
  r.body = std::string("mode: ") + ModeName(instrument::GetMode()) + "\n";
  return r;
}

}  // namespace

bool ParseMode(const std::string& text, instrument::Mode* mode) {
  if (text == "off") {
    *mode = instrument::kModeOff;
  } else if (text == "profile") {
    *mode = instrument::kModeProfile;
  } else if (text == "trace") {
    *mode = instrument::kModeTrace;
  } else {
    return false;
  }
  return true;
}

bool NormalizeContextPath(const std::string& in, std::string* out) {
  std::string p = in;
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (!p.empty() && p[0] != '/') p = "/" + p;
  Url url;
  std::string reason;
  if (!p.empty() && (!ParseTarget(p, &url, &reason) || url.path != p || !url.raw_query.empty() ||
                     p.find_first_of("%?#\" <>\\") != std::string::npos)) {
    return false;
  }
  *out = p;
  return true;
}

// Compares in time that depends only on the lengths, not on where the first difference is.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

namespace {

// The query keys each endpoint takes; anything else is a 400 rather than silently ignored.
bool KnownKeys(const std::string& name, const Url& url, Response* error) {
  // Never destroyed: connection threads may still be answering while the program exits.
  static const auto* const kKeys = new std::map<std::string, std::vector<std::string>>{
      {"profile", {"seconds", "format"}},
      {"heap", {"debug", "gc", "seconds", "format"}},
      {"allocs", {"debug", "gc", "seconds", "format"}},
      {"mutex", {"debug", "seconds", "format"}},
      {"block", {"debug", "seconds", "format"}},
      {"contention", {"debug", "seconds", "format"}},
      {"goroutine", {"debug", "seconds"}},
      {"threads", {"debug", "seconds"}},
      {"threadcreate", {"debug", "seconds"}},
  };
  auto known = kKeys->find(name);
  if (known == kKeys->end()) return true;  // The trace checks its own; cmdline takes none.
  for (const auto& [key, value] : url.query) {
    if (std::find(known->second.begin(), known->second.end(), key) != known->second.end()) {
      continue;
    }
    std::string list;
    for (const auto& k : known->second) list += (list.empty() ? "" : ", ") + k;
    *error = ErrorResponse(400, "unknown query parameter \"" + key + "\" (" + name +
                                    " takes " + list + ")");
    return false;
  }
  return true;
}

// Holds one of the open profile windows for a request's lifetime (null: not a window).
class WindowSlot {
 public:
  explicit WindowSlot(std::atomic<int>* open)
      : open_(open), count_(open != nullptr ? open->fetch_add(1) + 1 : 0) {}
  ~WindowSlot() {
    if (open_ != nullptr) open_->fetch_sub(1);
  }
  int count() const { return count_; }

 private:
  std::atomic<int>* open_;
  int count_;
};

// <ctx>/debug/charts/<asset>: the page, its library, and the history as JSON.
Response Charts(const Request& req, const Url& url, const std::string& asset) {
  Response error;
  if (!AllowMethods(req, false, &error)) return error;
  if (!url.query.empty()) {
    return ErrorResponse(400, "unknown query parameter \"" + url.query.begin()->first +
                                  "\" (the charts take none)");
  }
  if (asset == "data") {
    Response r;
    r.content_type = "application/json";
    r.body = runtime::MetricsJson();
    return r;
  }
  if (asset == "ws") {
    return ErrorResponse(400, "this is a WebSocket endpoint: connect with Upgrade: websocket");
  }
  const ChartAsset* a = FindChartAsset(asset);
  if (a == nullptr) return ErrorResponse(404, "not found: " + url.path);
  Response r;
  r.content_type = a->content_type;
  r.body.assign(reinterpret_cast<const char*>(a->data), a->size);
  return r;
}

Response MovedTo(const std::string& relative) {
  Response r;
  r.status = 301;
  r.headers.emplace_back("Location", relative);
  r.body = "moved to " + relative + "\n";
  return r;
}

}  // namespace

Response HandleRequest(const Request& req, const Env& env) {
  if (!env.token.empty() && !ConstantTimeEquals(req.authorization, "Bearer " + env.token)) {
    Response r = ErrorResponse(401, "unauthorized: send \"Authorization: Bearer <token>\"");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hookprof\"");
    return r;
  }
  Url url;
  std::string reason;
  if (!ParseTarget(req.target, &url, &reason)) return ErrorResponse(400, reason);
  Response error;
  if (url.path == "/symbolz") {
    if (!AllowMethods(req, true, &error)) return error;
    return Symbol(req, url);
  }
  const std::string& ctx = env.context_path;
  if (url.path.compare(0, ctx.size(), ctx) != 0 ||
      (url.path.size() > ctx.size() && url.path[ctx.size()] != '/')) {
    return ErrorResponse(404, "not found: " + url.path + " is outside " +
                                  (ctx.empty() ? std::string("/") : ctx));
  }
  const std::string rest = url.path.substr(ctx.size());
  // The directories without their slash: relative redirects keep the context path.
  if (rest == "/debug/pprof") return MovedTo("pprof/");
  if (rest == "/debug/hookprof/mode") return ModeEndpoint(req, url);
  if (rest == "/debug/charts") return MovedTo("charts/");
  if (rest.compare(0, 14, "/debug/charts/") == 0) return Charts(req, url, rest.substr(14));
  if (rest == "/debug/coverage") {
    WindowSlot slot(url.query.count("seconds") != 0 ? env.open_windows.get() : nullptr);
    if (slot.count() > env.max_profile_windows) {
      return ErrorResponse(503, "too many profile windows open at once (limit " +
                                    std::to_string(env.max_profile_windows) + "); retry later");
    }
    return Coverage(req, url, env);
  }
  if (rest.compare(0, sizeof(kPprofPrefix) - 1, kPprofPrefix) != 0) {
    return ErrorResponse(404, "not found: " + url.path);
  }
  const std::string name = rest.substr(sizeof(kPprofPrefix) - 1);
  if (name.empty()) {
    if (!AllowMethods(req, false, &error)) return error;
    return Index(env);
  }
  if (name == "symbol") {
    if (!AllowMethods(req, true, &error)) return error;
    return Symbol(req, url);
  }
  if (!AllowMethods(req, false, &error)) return error;
  if (!KnownKeys(name, url, &error)) return error;
  // A window: the request waits and holds a snapshot or trace buffer meanwhile.
  const bool window = name == "profile" || name == "trace" || url.query.count("seconds") != 0;
  WindowSlot slot(window ? env.open_windows.get() : nullptr);
  if (window && slot.count() > env.max_profile_windows) {
    return ErrorResponse(503, "too many profile windows open at once (limit " +
                                  std::to_string(env.max_profile_windows) + "); retry later");
  }
  if (name == "profile") return Profile(req, url, env);
  if (name == "cmdline") return Cmdline();
  if (name == "trace") return Trace(url, env);
  if (name == "heap" || name == "allocs") return HeapProfile(name, req, url, env);
  if (name == "mutex" || name == "block") return ContentionProfile(name, req, url, env);
  // gperftools' pprof finds the symbol page only from profile paths it knows, and names lock
  // contention "contention": the mutex profile under that name.
  if (name == "contention") return ContentionProfile("mutex", req, url, env);
  if (name == "goroutine" || name == "threads" || name == "threadcreate") {
    return StackCountProfile(name, url, env);
  }
  return ErrorResponse(404, "Unknown profile: " + name);
}

}  // namespace server
}  // namespace hookprof
