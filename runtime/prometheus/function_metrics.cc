#include "runtime/prometheus/function_metrics.h"

#include <ctype.h>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "instrument/labels.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/state/tsc.h"
#include "instrument/unwind.h"
#include "runtime/core/snapshot.h"
#include "runtime/reports/latency.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {
namespace {

constexpr char kOther[] = "other";
// A series key: the function's name, then per configured label key this separator and its value.
constexpr char kSeriesSeparator = '\x1f';

struct Totals {
  uint64_t calls = 0;
  double cpu_seconds = 0;
  std::vector<uint64_t> buckets;  // Per bound, then above the last; empty: never timed.
  double sum_seconds = 0;

  void Add(const Totals& o) {
    calls += o.calls;
    cpu_seconds += o.cpu_seconds;
    if (buckets.size() < o.buckets.size()) buckets.resize(o.buckets.size());
    for (size_t i = 0; i < o.buckets.size(); ++i) buckets[i] += o.buckets[i];
    sum_seconds += o.sum_seconds;
  }
};

struct CpuSeen {
  uint64_t samples = 0;  // Samples already converted.
  double seconds = 0;
};

struct State {
  std::mutex mu;
  FunctionMetricsConfig config;
  std::unique_ptr<RE2> match;
  std::shared_ptr<const Symbolizer> symbolizer;
  std::unordered_map<uintptr_t, std::string> names;  // For `symbolizer`.
  std::unordered_map<std::string, CpuSeen> cpu;
  // Functions with series of their own, with what they had counted when they got it (which
  // "other" keeps).
  std::map<std::string, Totals> exported;
  uint64_t scrapes = 0;  // Since the configuration changed.
};

State& TheState() {
  static State* s = new State();  // Never destroyed: scrapes may run during exit.
  return *s;
}

const std::string& NameOf(State& s, uintptr_t fn) {
  auto it = s.names.find(fn);
  if (it != s.names.end()) return it->second;
  std::string name;
  if (fn == 0) {
    name = kDroppedPathsFrame;
  } else if (fn == instrument::kDeepFn) {
    name = kDeepCallsFrame;
  } else if (instrument::IsUnwound(fn)) {
    name = s.symbolizer->NameOf(instrument::UnwoundReturn(fn) - 1);
  } else {
    name = s.symbolizer->NameOf(fn);
  }
  return s.names.emplace(fn, std::move(name)).first->second;
}

// The part of a series key after the function's name for label set `set`: the values of the
// configured keys.
const std::string& SeriesSuffix(State& s, std::unordered_map<uint32_t, std::string>* memo,
                                uint32_t set) {
  auto it = memo->find(set);
  if (it != memo->end()) return it->second;
  std::string suffix;
  const instrument::LabelPairs* pairs = instrument::LabelSetById(set);
  for (const std::string& key : s.config.labels) {
    suffix.push_back(kSeriesSeparator);
    for (size_t i = 0; pairs != nullptr && i < pairs->size(); ++i) {
      if ((*pairs)[i].first == key) suffix += (*pairs)[i].second;
    }
  }
  return memo->emplace(set, std::move(suffix)).first->second;
}

std::string FunctionOfSeries(const std::string& key) {
  return key.substr(0, key.find(kSeriesSeparator));
}

// A series' labels: its function, then the configured keys that have a value.
MetricLabels SeriesLabels(const State& s, const std::string& key) {
  MetricLabels labels = {{"function", FunctionOfSeries(key)}};
  size_t at = key.find(kSeriesSeparator);
  for (const std::string& name : s.config.labels) {
    if (at == std::string::npos) break;
    const size_t next = key.find(kSeriesSeparator, at + 1);
    std::string value =
        key.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    if (!value.empty()) labels.emplace_back(name, std::move(value));
    at = next;
  }
  return labels;
}

// Every series' totals now, by key (the function's name alone without label keys).
std::unordered_map<std::string, Totals> Collect(State& s) {
  auto symbolizer = Symbolizer::Current();
  if (symbolizer != s.symbolizer) {  // A dlopen or dlclose: addresses may name other code.
    s.symbolizer = std::move(symbolizer);
    s.names.clear();
  }
  std::unordered_map<std::string, Totals> by_name;
  std::unordered_map<std::string, uint64_t> samples;
  std::unordered_map<uint32_t, std::string> suffixes;  // Label set -> series key suffix.
  const bool split = !s.config.labels.empty();
  std::vector<uint32_t> sets;  // Per node: its label set (a parent's index is below its own).
  const Snapshot snap = Snapshot::Take();
  for (const ThreadSnapshot& t : snap.threads) {
    const instrument::Node* nodes = t.state->nodes;
    if (split) sets.assign(t.calls.size(), 0);
    for (size_t i = instrument::kOverflowNode; i < t.calls.size(); ++i) {
      if (split && i > instrument::kOverflowNode) {
        const uintptr_t fn = nodes[i].fn;
        sets[i] = instrument::IsLabelFn(fn) ? instrument::LabelSetOfFn(fn) : sets[nodes[i].parent];
      }
      if (t.calls[i] == 0 && t.samples[i] == 0) continue;
      const uint32_t f = FunctionNodeOf(t.state, static_cast<uint32_t>(i));  // Labels: its caller.
      if (f == instrument::kRootNode) continue;
      const std::string& name = NameOf(s, f == instrument::kOverflowNode ? 0 : nodes[f].fn);
      const std::string key = split ? name + SeriesSuffix(s, &suffixes, sets[i]) : name;
      by_name[key].calls += t.calls[i];
      if (t.samples[i] != 0) samples[key] += t.samples[i];
    }
  }
  const double period = static_cast<double>(instrument::CpuSamplingPeriodNanos()) * 1e-9;
  for (const auto& [name, n] : samples) {
    CpuSeen& seen = s.cpu[name];
    if (n > seen.samples) seen.seconds += static_cast<double>(n - seen.samples) * period;
    seen.samples = std::max(seen.samples, n);
  }
  for (const auto& [name, seen] : s.cpu) by_name[name].cpu_seconds = seen.seconds;

  const std::vector<double>& bounds = s.config.buckets;
  const double seconds_per_tick = instrument::NanosPerTick() * 1e-9;
  for (const auto& [key, path] : TakeLatency()) {
    Totals& t = by_name[split ? NameOf(s, path.fn) + SeriesSuffix(s, &suffixes, path.labels)
                              : NameOf(s, path.fn)];
    t.buckets.resize(bounds.size() + 1);
    for (const auto& [bucket, count] : path.counts) {
      const double mid = static_cast<double>(instrument::LatencyBucketLow(bucket)) +
                         (instrument::LatencyBucketWidth(bucket) - 1) / 2.0;
      const double seconds = mid * seconds_per_tick;
      const size_t i = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
      t.buckets[i] += count;
      t.sum_seconds += seconds * static_cast<double>(count);
    }
  }
  return by_name;
}

// Gives series to the functions the configuration asks for, while there is room.
void Select(State& s, const std::unordered_map<std::string, Totals>& by_name) {
  const size_t room = static_cast<size_t>(s.config.max_functions);
  // What "other" has shown of a function stays there: nothing if no scrape saw it before. A
  // function the pattern matches was never folded (room only shrinks: had it been seen, it would
  // have had its series then); one of the top may have been.
  const Totals never_shown;
  auto give = [&](const std::string& name, const Totals& shown) {
    if (s.exported.size() < room && name != kOther) s.exported.emplace(name, shown);
  };
  // The top are ranked among all functions, those with series included: a flat profile does
  // not hand out `top` more series at every scrape.
  std::vector<const std::pair<const std::string, Totals>*> candidates;
  for (const auto& entry : by_name) {
    candidates.push_back(&entry);
    if (s.exported.count(entry.first) == 0 && s.match != nullptr &&
        RE2::PartialMatch(FunctionOfSeries(entry.first), *s.match)) {
      give(entry.first, never_shown);
    }
  }
  const size_t top = std::min(candidates.size(), static_cast<size_t>(s.config.top));
  auto rank = [&](auto value) {
    std::partial_sort(
        candidates.begin(), candidates.begin() + top, candidates.end(), [&](auto* a, auto* b) {
          return value(a->second) != value(b->second) ? value(a->second) > value(b->second)
                                                      : a->first < b->first;
        });
    for (size_t i = 0; i < top; ++i) {
      if (value(candidates[i]->second) > 0 && s.exported.count(candidates[i]->first) == 0) {
        give(candidates[i]->first, s.scrapes == 0 ? never_shown : candidates[i]->second);
      }
    }
  };
  rank([](const Totals& t) { return static_cast<double>(t.calls); });
  rank([](const Totals& t) { return t.cpu_seconds; });
}

std::string Trimmed(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

// "a, b,c" -> {"a", "b", "c"}, items trimmed (empty ones kept, for the caller to refuse); ""
// -> {} when `empty_is_none`, else {""}.
std::vector<std::string> CommaList(const std::string& text, bool empty_is_none) {
  std::vector<std::string> items;
  for (size_t at = 0; at <= text.size() && !(empty_is_none && text.empty());) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    items.push_back(Trimmed(text.substr(at, comma - at)));
    at = comma + 1;
  }
  return items;
}

}  // namespace

bool ParseMetricBuckets(const std::string& text, std::vector<double>* out, std::string* error) {
  std::vector<double> bounds;
  for (const std::string& item : CommaList(text, /*empty_is_none=*/false)) {
    char* end = nullptr;
    const double v = item.empty() ? NAN : std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(v) || v <= 0 ||
        (!bounds.empty() && v <= bounds.back())) {
      *error =
          "metric buckets must be positive, increasing numbers of seconds separated by "
          "commas (\"" +
          item + "\" is not)";
      return false;
    }
    bounds.push_back(v);
  }
  if (bounds.size() > 64) {
    *error = "at most 64 metric buckets";
    return false;
  }
  *out = std::move(bounds);
  return true;
}

bool ParseMetricLabels(const std::string& text, std::vector<std::string>* out, std::string* error) {
  std::vector<std::string> keys;
  for (const std::string& key : CommaList(text, /*empty_is_none=*/true)) {
    bool valid = !key.empty() && !isdigit(static_cast<unsigned char>(key[0])) &&
                 key.compare(0, 2, "__") != 0 && key != "function" && key != "le";
    for (char c : key) valid = valid && (isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!valid || std::find(keys.begin(), keys.end(), key) != keys.end()) {
      *error =
          "metric label keys must be distinct Prometheus label names, not function, le or "
          "__... (\"" +
          key + "\" is not)";
      return false;
    }
    keys.push_back(key);
  }
  if (keys.size() > 8) {
    *error = "at most 8 metric label keys";
    return false;
  }
  *out = std::move(keys);
  return true;
}

bool ConfigureFunctionMetrics(const FunctionMetricsConfig& config, std::string* error) {
  std::unique_ptr<RE2> match;
  if (!config.functions.empty()) {
    RE2::Options o;
    o.set_log_errors(false);
    match = std::make_unique<RE2>(config.functions, o);
    if (!match->ok()) {
      *error = "invalid function pattern for metrics: " + match->error();
      return false;
    }
  }
  State& s = TheState();
  std::lock_guard<std::mutex> lock(s.mu);
  if (config.buckets != s.config.buckets || config.functions != s.config.functions ||
      config.labels != s.config.labels) {
    s.exported.clear();
    s.scrapes = 0;
  }
  s.config = config;
  s.match = std::move(match);
  return true;
}

void WriteFunctionMetrics(Exposition* out) {
  State& s = TheState();
  std::lock_guard<std::mutex> lock(s.mu);
  const std::unordered_map<std::string, Totals> by_name = Collect(s);
  Select(s, by_name);
  ++s.scrapes;
  Totals other;
  for (const auto& [name, t] : by_name) {
    auto it = s.exported.find(name);
    other.Add(it == s.exported.end() ? t : it->second);
  }
  const Totals none;
  auto now = [&](const std::string& name) -> const Totals& {
    auto it = by_name.find(name);
    return it != by_name.end() ? it->second : none;
  };
  out->Counter("hookprof_function_calls",
               "Calls of the function, exact (instrumented functions; every mode but off).");
  for (const auto& [name, frozen] : s.exported) out->Add(SeriesLabels(s, name), now(name).calls);
  out->Add({{"function", kOther}}, other.calls);
  out->Counter("hookprof_function_cpu_seconds",
               "CPU time sampled in the function (the innermost function known on the sampled "
               "stack, with the uninstrumented code it called).");
  for (const auto& [name, frozen] : s.exported) {
    out->Add(SeriesLabels(s, name), now(name).cpu_seconds);
  }
  out->Add({{"function", kOther}}, other.cpu_seconds);
  out->Histogram("hookprof_function_duration_seconds",
                 "Wall time of the function's calls (timing mode), each call on its own "
                 "(recursive calls too).");
  for (const auto& [name, frozen] : s.exported) {
    const Totals& t = now(name);
    if (!t.buckets.empty())
      out->AddHistogram(SeriesLabels(s, name), s.config.buckets, t.buckets, t.sum_seconds);
  }
  if (!other.buckets.empty()) {
    out->AddHistogram({{"function", kOther}}, s.config.buckets, other.buckets, other.sum_seconds);
  }
  out->Gauge("hookprof_metrics_functions",
             "Functions seen, by whether they have series of their own (\"exported\") or are "
             "summed under function=\"other\" (\"folded\").");
  out->Add({{"kind", "exported"}}, static_cast<double>(s.exported.size()));
  size_t folded = 0;
  for (const auto& entry : by_name) folded += s.exported.count(entry.first) == 0 ? 1 : 0;
  out->Add({{"kind", "folded"}}, static_cast<double>(folded));
}

}  // namespace runtime
}  // namespace hookprof
