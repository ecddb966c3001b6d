// Per-function metrics for Prometheus: exact call counts, CPU seconds from the samples, and call
// durations (timing mode) as histograms on a fixed `le` ladder, for a bounded set of functions.
//
// Which functions get series of their own: those whose name matches `functions`, then at each
// scrape the `top` with most calls and the `top` with most CPU samples, until `max_functions`
// have series. A function keeps its series for the rest of the run (a series that came and went
// with the ranking would break every rate()). Everything else is summed under
// function="other". What "other" showed of a function before it got its own series stays there,
// so every counter, "other" included, only grows: sum(rate(...)) is right at all times, while
// sum(...) counts such a function's earlier calls twice (never those of a function the pattern
// matches, nor of those given series at the first scrape).
//
// With label keys (`labels`, instrument/labels.h), a series is a (function, values of those
// keys) pair: hookprof_function_calls_total{function="Search",endpoint="/search"}. A key the
// calls' labels lack is left out of the series; every pair counts toward `max_functions`.
//
// Values are cumulative over the run (threads that exited included) and never go down: across
// mode switches, windows and Stop()/Use(). CPU samples become seconds at the sampling period in
// force when a scrape first sees them. A call's duration falls in the bucket of its latency
// histogram's midpoint (instrument::LatencyHistogram: within 1/64 of the measured value), and
// `_sum` adds those midpoints.
//
// Thread-safety: any thread; scrapes are serialised by a lock of their own (never one the hooks
// take).
#ifndef HOOKPROF_RUNTIME_PROMETHEUS_FUNCTION_METRICS_H_
#define HOOKPROF_RUNTIME_PROMETHEUS_FUNCTION_METRICS_H_

#include <stdint.h>

#include <string>
#include <vector>

#include "runtime/prometheus/exposition.h"

namespace hookprof {
namespace runtime {

struct FunctionMetricsConfig {
  std::string functions;  // RE2, partial match on the demangled name; "" matches none.
  int top = 20;
  int max_functions = 500;
  std::vector<std::string> labels;  // Label keys that split a function's series (at most 8).
  // Upper bounds of the duration buckets, seconds, increasing (+Inf is added).
  std::vector<double> buckets = {1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5, 5e-5,   1e-4, 2.5e-4,
                                 5e-4, 1e-3,   2.5e-3, 5e-3, 1e-2,   2.5e-2, 5e-2, 0.1,
                                 0.25, 0.5,    1,      2.5,  5,      10};
};

// "0.001,0.01,0.1" -> bounds: positive, finite, strictly increasing, at most 64. False with a
// one-line reason otherwise.
bool ParseMetricBuckets(const std::string& text, std::vector<double>* out, std::string* error);

// "endpoint,tenant" -> keys: Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*, not "function",
// "le" or "__..."), distinct, at most 8; "" -> none. False with a one-line reason otherwise.
bool ParseMetricLabels(const std::string& text, std::vector<std::string>* out, std::string* error);

// Takes effect at the next scrape. A new `buckets` ladder, `functions` pattern or `labels`
// starts the series over (function="other" included); the same configuration again changes nothing.
// False with a one-line reason for a pattern RE2 rejects (the configuration is kept then).
bool ConfigureFunctionMetrics(const FunctionMetricsConfig& config, std::string* error);

// hookprof_function_calls_total, hookprof_function_cpu_seconds_total,
// hookprof_function_duration_seconds, and hookprof_metrics_functions (how many functions have
// series of their own, and how many are folded into "other").
void WriteFunctionMetrics(Exposition* out);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PROMETHEUS_FUNCTION_METRICS_H_
