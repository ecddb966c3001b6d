#include "runtime/reports/latency.h"

#include <sched.h>
#include <stdio.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include "instrument/labels.h"
#include "runtime/core/json.h"

namespace hookprof {
namespace runtime {
namespace {

using instrument::kLatencyBuckets;
using instrument::LatencyBucketLow;
using instrument::LatencyBucketWidth;

// The value standing for a bucket: its midpoint, inside the exact bounds.
double BucketValue(uint32_t b, uint64_t min_ticks, uint64_t max_ticks) {
  const double mid = static_cast<double>(LatencyBucketLow(b)) +
                     (LatencyBucketWidth(b) > 1 ? LatencyBucketWidth(b) / 2.0 : 0.0);
  return std::min(std::max(mid, static_cast<double>(min_ticks)), static_cast<double>(max_ticks));
}

// The q-quantile of a merged histogram (calls > 0), in ticks.
double Quantile(const std::map<uint32_t, uint64_t>& counts, uint64_t calls, double q,
                uint64_t min_ticks, uint64_t max_ticks) {
  const double rank = q * static_cast<double>(calls);
  uint64_t seen = 0;
  for (const auto& [b, n] : counts) {
    seen += n;
    if (static_cast<double>(seen) >= rank) return BucketValue(b, min_ticks, max_ticks);
  }
  return static_cast<double>(max_ticks);
}

// One histogram as it stands: the cold part's counts plus the hot window's, read as a pair (a
// spill moves a full window counter to the cold part between two spill_seq values).
PathLatency ReadHistogram(const instrument::LatencyHot& hot,
                          const instrument::LatencyHistogram& l) {
  PathLatency p;
  p.fn = l.fn;
  p.labels = l.labels;
  for (int attempt = 0;; ++attempt) {
    const uint16_t seq = __atomic_load_n(&hot.spill_seq, __ATOMIC_ACQUIRE);
    if (seq & 1) {
      if (attempt > 100) sched_yield();  // The owner was preempted inside its spill.
      continue;
    }
    p.counts.clear();
    for (uint32_t b = 0; b < kLatencyBuckets; ++b) {
      const uint64_t c = __atomic_load_n(&l.counts[b], __ATOMIC_RELAXED);
      if (c != 0) p.counts[b] = c;
    }
    const uint16_t base = __atomic_load_n(&hot.base, __ATOMIC_ACQUIRE);
    if (base != instrument::kLatencyUnplaced) {
      for (uint32_t j = 0; j < instrument::kLatencyHotBuckets; ++j) {
        const uint8_t c = __atomic_load_n(&hot.counts[j], __ATOMIC_RELAXED);
        if (c != 0) p.counts[base + j] += c;
      }
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&hot.spill_seq, __ATOMIC_RELAXED) == seq) break;
  }
  const uint32_t min32 = __atomic_load_n(&hot.min_ticks, __ATOMIC_RELAXED);
  const uint32_t max32 = __atomic_load_n(&hot.max_ticks, __ATOMIC_RELAXED);
  p.min_ticks = min32 != ~uint32_t{0} ? min32 : __atomic_load_n(&l.min_ticks, __ATOMIC_RELAXED);
  p.max_ticks = max32 != ~uint32_t{0} ? max32 : __atomic_load_n(&l.max_ticks, __ATOMIC_RELAXED);
  return p;
}

}  // namespace

LatencySnapshot TakeLatency() {
  LatencySnapshot out;
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    if (__atomic_load_n(&s->internal, __ATOMIC_RELAXED)) continue;
    const uint32_t n = __atomic_load_n(&s->latency_used, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; ++i) out[{s, i}] = ReadHistogram(s->latency_hot[i], s->latency[i]);
  }
  return out;
}

uint64_t LostLatency() {
  uint64_t lost = 0;
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    lost += __atomic_load_n(&s->lost_latency, __ATOMIC_RELAXED);
  }
  return lost;
}

LatencyReport BuildLatency(const LatencySnapshot& begin, const LatencySnapshot& end,
                           const Snapshot& delta, const Symbolizer& symbolizer,
                           const LatencyLabels& labels) {
  struct Merged {
    std::map<uint32_t, uint64_t> counts;
    uint64_t calls = 0, min_ticks = ~uint64_t{0}, max_ticks = 0;
    uint64_t total_ticks = 0, self_ticks = 0;
  };
  // Per label set: whether its calls are kept, and their group (the value of `by`).
  std::map<uint32_t, std::pair<bool, std::string>> sets;
  const auto set_of = [&](uint32_t id) -> const std::pair<bool, std::string>& {
    auto it = sets.find(id);
    if (it != sets.end()) return it->second;
    const instrument::LabelPairs* pairs = instrument::LabelSetById(id);
    const auto value = [pairs](const std::string& key) -> const std::string* {
      if (pairs == nullptr) return nullptr;
      for (const auto& [k, v] : *pairs) {
        if (k == key) return &v;
      }
      return nullptr;
    };
    bool kept = true;
    for (const auto& [k, v] : labels.match) {
      const std::string* have = value(k);
      kept = kept && have != nullptr && *have == v;
    }
    const std::string* group = labels.by.empty() ? nullptr : value(labels.by);
    return sets.emplace(id, std::make_pair(kept, group != nullptr ? *group : "")).first->second;
  };
  std::map<std::pair<uintptr_t, std::string>, Merged> by_fn;  // (function, group)
  for (const auto& [key, p] : end) {
    const auto& [kept, group] = set_of(p.labels);
    if (!kept) continue;
    auto before = begin.find(key);
    Merged& m = by_fn[{p.fn, group}];
    uint32_t low = kLatencyBuckets, high = 0;
    for (const auto& [b, c] : p.counts) {
      uint64_t n = c;
      if (before != begin.end()) {
        auto it = before->second.counts.find(b);
        if (it != before->second.counts.end()) n -= std::min(n, it->second);
      }
      if (n == 0) continue;
      m.counts[b] += n;
      m.calls += n;
      low = std::min(low, b);
      high = std::max(high, b);
    }
    if (low > high) continue;
    if (before == begin.end()) {  // Every call of this path is in: its exact bounds hold.
      m.min_ticks = std::min(m.min_ticks, p.min_ticks);
      m.max_ticks = std::max(m.max_ticks, p.max_ticks);
    } else {
      m.min_ticks = std::min(m.min_ticks, std::max(LatencyBucketLow(low), p.min_ticks));
      m.max_ticks =
          std::max(m.max_ticks,
                   std::min(LatencyBucketLow(high) + LatencyBucketWidth(high) - 1, p.max_ticks));
    }
  }
  // Total and self wall time per function, from the window's per-path wall time. A label scope's
  // own time (its pseudo-node's self) is its function's, under the scope's labels.
  for (const ThreadSnapshot& t : delta.threads) {
    const instrument::Node* nodes = t.state->nodes;
    const std::vector<uint64_t> self = Snapshot::SelfWallTicks(t);
    for (size_t i = 2; i < t.wall_ticks.size(); ++i) {
      if (t.wall_ticks[i] == 0) continue;
      const uint32_t node = static_cast<uint32_t>(i);
      const auto& [kept, group] = set_of(LabelSetOfNode(t.state, node));
      if (!kept) continue;
      const bool scope = instrument::IsLabelFn(nodes[i].fn);
      auto it = by_fn.find({nodes[FunctionNodeOf(t.state, node)].fn, group});
      if (it == by_fn.end()) continue;
      if (!scope) it->second.total_ticks += t.wall_ticks[i];
      it->second.self_ticks += self[i];
    }
  }
  const double ns = delta.NanosPerTick();
  LatencyReport report;
  report.by = labels.by;
  for (const auto& [key, m] : by_fn) {
    if (m.calls == 0) continue;
    LatencyRow r;
    r.name = symbolizer.NameOf(key.first);
    r.group = key.second;
    r.calls = m.calls;
    r.total_ns = m.total_ticks * ns;
    r.self_ns = m.self_ticks * ns;
    r.min_ns = m.min_ticks * ns;
    r.max_ns = m.max_ticks * ns;
    r.p50_ns = Quantile(m.counts, m.calls, 0.50, m.min_ticks, m.max_ticks) * ns;
    r.p90_ns = Quantile(m.counts, m.calls, 0.90, m.min_ticks, m.max_ticks) * ns;
    r.p99_ns = Quantile(m.counts, m.calls, 0.99, m.min_ticks, m.max_ticks) * ns;
    report.rows.push_back(std::move(r));
  }
  SortLatency("total", 0, &report);
  report.lost = LostLatency();
  return report;
}

bool SortLatency(const std::string& column, size_t top, LatencyReport* report) {
  // Never destroyed: the exit-time writer sorts after static destructors may have run.
  static const auto& kColumns =
      *new std::map<std::string, std::function<double(const LatencyRow&)>>{
          {"total", [](const LatencyRow& r) { return r.total_ns; }},
          {"self", [](const LatencyRow& r) { return r.self_ns; }},
          {"calls", [](const LatencyRow& r) { return double(r.calls); }},
          {"min", [](const LatencyRow& r) { return r.min_ns; }},
          {"p50", [](const LatencyRow& r) { return r.p50_ns; }},
          {"p90", [](const LatencyRow& r) { return r.p90_ns; }},
          {"p99", [](const LatencyRow& r) { return r.p99_ns; }},
          {"max", [](const LatencyRow& r) { return r.max_ns; }},
      };
  auto& rows = report->rows;
  if (column == "name") {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const LatencyRow& a, const LatencyRow& b) { return a.name < b.name; });
  } else {
    auto it = kColumns.find(column);
    if (it == kColumns.end()) return false;
    const auto& key = it->second;
    std::stable_sort(rows.begin(), rows.end(),
                     [&](const LatencyRow& a, const LatencyRow& b) { return key(a) > key(b); });
  }
  if (top != 0 && rows.size() > top) rows.resize(top);
  return true;
}

std::string LatencyText(const LatencyReport& report) {
  std::ostringstream out;
  char line[512];
  out << "hookprof latency per function (timing mode), "
      << (report.window_ns == 0 ? std::string("whole run")
                                : std::to_string(report.window_ns / 1000000) + " ms window")
      << "; times in microseconds\n";
  if (report.lost != 0) {
    out << "(" << report.lost
        << " timed calls not in the histograms: a thread's histogram table was full)\n";
  }
  snprintf(line, sizeof(line), "%12s %14s %14s %12s %12s %12s %12s %12s  %s\n", "calls", "total",
           "self", "min", "p50", "p90", "p99", "max", "function");
  out << line;
  for (const LatencyRow& r : report.rows) {
    snprintf(line, sizeof(line), "%12llu %14.1f %14.1f %12.1f %12.1f %12.1f %12.1f %12.1f  ",
             static_cast<unsigned long long>(r.calls), r.total_ns / 1e3, r.self_ns / 1e3,
             r.min_ns / 1e3, r.p50_ns / 1e3, r.p90_ns / 1e3, r.p99_ns / 1e3, r.max_ns / 1e3);
    out << line << r.name;
    if (!report.by.empty()) out << "  [" << report.by << "=" << r.group << "]";
    out << "\n";
  }
  if (report.rows.empty()) {
    out << "(no timed calls: switch to timing mode, POST <ctx>/debug/hookprof/mode?set=timing)\n";
  }
  return out.str();
}

std::string LatencyJson(const LatencyReport& report) {
  std::ostringstream out;
  out << "{\"functions\":[";
  bool first = true;
  const auto num = [&](const char* key, double v) {
    out << ",\"" << key << "\":" << static_cast<int64_t>(v + 0.5);
  };
  for (const LatencyRow& r : report.rows) {
    out << (first ? "" : ",") << "{\"name\":\"" << JsonEscape(r.name) << "\",\"calls\":" << r.calls;
    num("total_ns", r.total_ns);
    num("self_ns", r.self_ns);
    num("min_ns", r.min_ns);
    num("p50_ns", r.p50_ns);
    num("p90_ns", r.p90_ns);
    num("p99_ns", r.p99_ns);
    num("max_ns", r.max_ns);
    if (!report.by.empty()) {
      out << ",\"labels\":{\"" << JsonEscape(report.by) << "\":\"" << JsonEscape(r.group) << "\"}";
    }
    out << "}";
    first = false;
  }
  out << "],\"window_ns\":" << report.window_ns << ",\"lost_calls\":" << report.lost << "}\n";
  return out.str();
}

}  // namespace runtime
}  // namespace hookprof
