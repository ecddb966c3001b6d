#include "runtime/charts/metrics.h"

#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "instrument/samplers/contention.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/samplers/heap_sampler.h"
#include "instrument/state/thread_state.h"
#include "instrument/unwind.h"
#include "runtime/core/json.h"
#include "runtime/core/snapshot.h"
#include "runtime/reports/latency.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {
namespace {

constexpr int kTopWindowSeconds = 10;
constexpr size_t kTopFunctions = 10;

struct Point {
  double t = 0;                         // Unix seconds.
  double cpu_user = 0, cpu_system = 0;  // Percent of one core.
  double rss_mib = 0, heap_mib = 0;
  double heap_sampled_mib = 0;  // NaN (JSON null) while the heap sampler is off.
  double threads = 0;
  double calls_per_s = 0, dropped_per_s = 0;
};

struct State {
  std::mutex mu;
  std::deque<Point> history;
  std::string top_json = "[]";
  std::string slowest_json = "[]";
  double sampler_cpu_percent = 0;  // The sampler thread's own CPU, percent of one core.
  std::vector<std::weak_ptr<MetricsViewer>> viewers;
  bool started = false;
};

State& GetState() {
  static auto* state = new State;  // Never destroyed: the sampler runs until the process ends.
  return *state;
}

double Seconds(const timespec& ts) { return ts.tv_sec + ts.tv_nsec / 1e9; }

double Now(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return Seconds(ts);
}

// Reads a small /proc file without allocating through iostreams.
std::string ReadProc(const char* path) {
  std::string out;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

double RssMib() {
  const std::string statm = ReadProc("/proc/self/statm");
  unsigned long long size = 0, resident = 0;
  if (sscanf(statm.c_str(), "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double ThreadCount() {
  // Field 20 of /proc/self/stat; the command name (field 2) may hold spaces, so count from ')'.
  const std::string stat = ReadProc("/proc/self/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  int field = 2;
  for (size_t i = paren + 1; i < stat.size(); ++i) {
    if (stat[i] == ' ' && ++field == 20) return atof(stat.c_str() + i + 1);
  }
  return 0;
}

// hookprof's own estimate of the bytes in use (the heap profile's inuse_space total).
double SampledHeapMib() {
  if (!instrument::HeapSamplerActive() || instrument::HeapSampleRate() <= 0) return NAN;
  double bytes = 0;
  for (const instrument::HeapBucket& b : instrument::HeapBuckets()) bytes += b.inuse_bytes;
  return bytes / (1 << 20);
}

double HeapMib() {
  const struct mallinfo2 mi = mallinfo2();  // glibc: bytes in use, small chunks + mmapped.
  return (static_cast<double>(mi.uordblks) + static_cast<double>(mi.hblkhd)) / (1 << 20);
}

std::string Number(double v) {
  if (std::isnan(v)) return "null";
  char buf[32];
  snprintf(buf, sizeof(buf), "%.15g", v);  // Unix seconds need 13 digits.
  return buf;
}

std::string Columns(const std::deque<Point>& points) {
  std::array<std::pair<const char*, double Point::*>, 9> columns = {{
      {"t", &Point::t},
      {"cpu_user", &Point::cpu_user},
      {"cpu_system", &Point::cpu_system},
      {"rss_mib", &Point::rss_mib},
      {"heap_mib", &Point::heap_mib},
      {"heap_sampled_mib", &Point::heap_sampled_mib},
      {"threads", &Point::threads},
      {"calls_per_s", &Point::calls_per_s},
      {"dropped_per_s", &Point::dropped_per_s},
  }};
  std::string out;
  for (const auto& [name, field] : columns) {
    out += std::string(out.empty() ? "" : ",") + "\"" + name + "\":[";
    bool first = true;
    for (const Point& p : points) {
      out += (first ? "" : ",") + Number(p.*field);
      first = false;
    }
    out += "]";
  }
  return out;
}

// Frame for viewers and /data, under State::mu.
std::string Json(const State& st, const std::deque<Point>& points, const char* kind) {
  uint64_t viewer_dropped = 0;
  for (const auto& w : st.viewers) {
    if (auto v = w.lock()) viewer_dropped += v->dropped();
  }
  return std::string("{\"kind\":\"") + kind +
         "\",\"interval_s\":1,\"history_points\":" + std::to_string(kMetricsHistoryPoints) + "," +
         Columns(points) + ",\"top\":" + st.top_json + ",\"slowest\":" + st.slowest_json +
         ",\"sampler_cpu_percent\":" + Number(st.sampler_cpu_percent) +
         ",\"viewer_frames_dropped\":" + std::to_string(viewer_dropped) + "}";
}

// Everything counted as lost so far: the threads' losses (instrument/state/thread_counters.inc),
// heap samples and lock waits past full tables.
uint64_t DroppedEvents(const Snapshot& s) {
  uint64_t n = instrument::HeapDroppedSamples() +
               instrument::ContentionDropped(instrument::Contention::kMutex) +
               instrument::ContentionDropped(instrument::Contention::kBlock);
  for (const ThreadSnapshot& t : s.threads) {
    n += t.counters.Losses();
  }
  return n;
}

uint64_t TotalCalls(const Snapshot& s) {
  uint64_t n = 0;
  for (const ThreadSnapshot& t : s.threads) {
    for (uint64_t c : t.calls) n += c;
  }
  return n;
}

// CPU samples per function (the node's own function: flat time) between two snapshots.
std::unordered_map<uintptr_t, uint64_t> SamplesByFunction(const Snapshot& delta) {
  std::unordered_map<uintptr_t, uint64_t> out;
  for (const ThreadSnapshot& t : delta.threads) {
    const uint32_t published = instrument::PublishedNodes(t.state);
    for (size_t i = 1; i < t.samples.size() && i < published; ++i) {
      // Walked frames (instrument/unwind.h) are not functions: only hooked ones are charted.
      const uint32_t f = FunctionNodeOf(t.state, static_cast<uint32_t>(i));  // Labels: its caller.
      const uintptr_t fn = t.state->nodes[f].fn;
      if (t.samples[i] != 0 && f > instrument::kOverflowNode && !instrument::IsUnwound(fn)) {
        out[fn] += t.samples[i];
      }
    }
  }
  return out;
}

// The functions with the slowest calls (p99) over the window of `recent` (timing mode's
// latency histograms; empty when none): name, calls, p50, p99, max.
std::string SlowestJson(const std::deque<LatencySnapshot>& recent, const Snapshot& delta) {
  if (recent.empty() || recent.back().empty()) return "[]";
  LatencyReport report = BuildLatency(recent.front(), recent.back(), delta, *Symbolizer::Current());
  SortLatency("p99", kTopFunctions, &report);
  std::string out = "[";
  for (size_t i = 0; i < report.rows.size(); ++i) {
    const LatencyRow& r = report.rows[i];
    out += std::string(i == 0 ? "" : ",") + "{\"function\":\"" + JsonEscape(r.name) +
           "\",\"calls\":" + std::to_string(r.calls) + ",\"p50_ms\":" + Number(r.p50_ns / 1e6) +
           ",\"p99_ms\":" + Number(r.p99_ns / 1e6) + ",\"max_ms\":" + Number(r.max_ns / 1e6) + "}";
  }
  return out + "]";
}

void SamplerLoop() {
  instrument::MarkCurrentThreadInternal();
  pthread_setname_np(pthread_self(), "hookprof-charts");
  State& st = GetState();
  Snapshot previous = Snapshot::Take();
  uint64_t dropped_prev = DroppedEvents(previous);
  rusage ru_prev;
  getrusage(RUSAGE_SELF, &ru_prev);
  double wall_prev = Now(CLOCK_MONOTONIC);
  double own_prev = Now(CLOCK_THREAD_CPUTIME_ID);
  std::deque<std::unordered_map<uintptr_t, uint64_t>> recent;  // Last 10 s, per second.
  std::deque<LatencySnapshot> latency;  // The last 11 seconds' edges (timing mode).
  timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (;;) {
    next.tv_sec += 1;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) != 0) {
    }
    Snapshot now = Snapshot::Take();
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double wall = Now(CLOCK_MONOTONIC);
    const double elapsed = std::max(wall - wall_prev, 1e-3);
    Point p;
    p.t = Now(CLOCK_REALTIME);
    p.cpu_user = 100 *
                 (Seconds({ru.ru_utime.tv_sec, ru.ru_utime.tv_usec * 1000}) -
                  Seconds({ru_prev.ru_utime.tv_sec, ru_prev.ru_utime.tv_usec * 1000})) /
                 elapsed;
    p.cpu_system = 100 *
                   (Seconds({ru.ru_stime.tv_sec, ru.ru_stime.tv_usec * 1000}) -
                    Seconds({ru_prev.ru_stime.tv_sec, ru_prev.ru_stime.tv_usec * 1000})) /
                   elapsed;
    p.rss_mib = RssMib();
    p.heap_mib = HeapMib();
    p.heap_sampled_mib = SampledHeapMib();
    p.threads = ThreadCount();
    const uint64_t calls = TotalCalls(now);
    p.calls_per_s = static_cast<double>(calls - std::min(calls, TotalCalls(previous))) / elapsed;
    const uint64_t dropped = DroppedEvents(now);
    p.dropped_per_s = static_cast<double>(dropped - std::min(dropped, dropped_prev)) / elapsed;
    dropped_prev = dropped;
    const Snapshot second = Snapshot::Delta(previous, now);
    recent.push_back(SamplesByFunction(second));
    latency.push_back(TakeLatency());
    if (latency.size() > kTopWindowSeconds + 1) latency.pop_front();
    // Rows' calls and percentiles are the window's; `second` only converts ticks.
    std::string slowest = SlowestJson(latency, second);
    if (recent.size() > kTopWindowSeconds) recent.pop_front();
    std::unordered_map<uintptr_t, uint64_t> total;
    for (const auto& second : recent) {
      for (const auto& [fn, n] : second) total[fn] += n;
    }
    std::vector<std::pair<uint64_t, uintptr_t>> ranked;
    for (const auto& [fn, n] : total) ranked.emplace_back(n, fn);
    std::sort(ranked.rbegin(), ranked.rend());
    if (ranked.size() > kTopFunctions) ranked.resize(kTopFunctions);
    std::string top = "[";
    if (!ranked.empty()) {
      auto symbolizer = Symbolizer::Current();
      const double period_ms = instrument::CpuSamplingPeriodNanos() / 1e6;
      for (size_t i = 0; i < ranked.size(); ++i) {
        top += std::string(i == 0 ? "" : ",") + "{\"function\":\"" +
               JsonEscape(symbolizer->NameOf(ranked[i].second)) +
               "\",\"cpu_ms\":" + Number(ranked[i].first * period_ms) + "}";
      }
    }
    top += "]";
    const double own = Now(CLOCK_THREAD_CPUTIME_ID);
    std::string frame;
    {
      std::lock_guard<std::mutex> lock(st.mu);
      st.history.push_back(p);
      if (st.history.size() > kMetricsHistoryPoints) st.history.pop_front();
      st.top_json = top;
      st.slowest_json = std::move(slowest);
      st.sampler_cpu_percent = 100 * (own - own_prev) / elapsed;
      frame = Json(st, std::deque<Point>{p}, "point");
    }
    PublishFrame(frame);
    previous = std::move(now);
    ru_prev = ru;
    wall_prev = wall;
    own_prev = own;
  }
}

}  // namespace

void StartMetrics() {
  State& st = GetState();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.started) return;
  st.started = true;
  instrument::ProgramSignalsBlocked blocked;  // From the sampler's first instruction.
  std::thread(SamplerLoop).detach();
}

std::string MetricsJson() {
  State& st = GetState();
  std::lock_guard<std::mutex> lock(st.mu);
  return Json(st, st.history, "history");
}

bool MetricsViewer::Pop(std::string* frame, int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                    [this] { return !frames_.empty(); })) {
    return false;
  }
  *frame = std::move(frames_.front());
  frames_.pop_front();
  return true;
}

uint64_t MetricsViewer::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

std::shared_ptr<MetricsViewer> SubscribeMetrics() {
  auto viewer = std::make_shared<MetricsViewer>();
  viewer->frames_.push_back(MetricsJson());
  State& st = GetState();
  std::lock_guard<std::mutex> lock(st.mu);
  st.viewers.push_back(viewer);
  return viewer;
}

void PublishFrame(const std::string& frame) {
  State& st = GetState();
  std::vector<std::shared_ptr<MetricsViewer>> viewers;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    st.viewers.erase(std::remove_if(st.viewers.begin(), st.viewers.end(),
                                    [](const auto& w) { return w.expired(); }),
                     st.viewers.end());
    for (const auto& w : st.viewers) {
      if (auto v = w.lock()) viewers.push_back(std::move(v));
    }
  }
  for (const auto& v : viewers) {
    {
      std::lock_guard<std::mutex> lock(v->mu_);
      if (v->frames_.size() >= kViewerQueueFrames) {
        v->frames_.pop_front();
        ++v->dropped_;
      }
      v->frames_.push_back(frame);
    }
    v->cv_.notify_one();
  }
}

}  // namespace runtime
}  // namespace hookprof
