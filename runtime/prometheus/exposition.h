// Prometheus' exposition formats, written: the text format 0.0.4 and OpenMetrics 1.0.0 (chosen
// from the scraper's Accept header). A family is declared once, then its samples follow; the
// two formats differ in how a counter's family is named (OpenMetrics leaves out `_total`), in
// the Content-Type and in OpenMetrics' closing `# EOF`.
//
// Thread-safety: an Exposition is one scrape's; the functions are pure.
#ifndef HOOKPROF_RUNTIME_PROMETHEUS_EXPOSITION_H_
#define HOOKPROF_RUNTIME_PROMETHEUS_EXPOSITION_H_

#include <stdint.h>

#include <string>
#include <utility>
#include <vector>

namespace hookprof {
namespace runtime {

enum class MetricsFormat { kText, kOpenMetrics };

// OpenMetrics when `accept` lists application/openmetrics-text (with a q above 0), else the
// text format: a missing, malformed or unrelated header gets the format every scraper reads.
MetricsFormat NegotiateMetricsFormat(const std::string& accept);
const char* MetricsContentType(MetricsFormat format);

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  explicit Exposition(MetricsFormat format) : format_(format) {}

  // A counter family `name` (without `_total`); its samples are `name_total`.
  void Counter(const std::string& name, const std::string& help);
  void Gauge(const std::string& name, const std::string& help);
  // Buckets are given by their upper bounds (increasing, +Inf left out: it is added).
  void Histogram(const std::string& name, const std::string& help);

  // One sample of the family declared last.
  void Add(const MetricLabels& labels, double value);
  // One histogram series: counts per bucket (not cumulative; the last one is above every
  // bound), the sum of the observed values.
  void AddHistogram(const MetricLabels& labels, const std::vector<double>& bounds,
                    const std::vector<uint64_t>& counts, double sum);

  // The exposition (OpenMetrics' `# EOF` appended).
  std::string Finish();

 private:
  void Declare(const std::string& name, const char* type, const std::string& help);
  void Line(const std::string& name, const MetricLabels& labels, const std::string& value);

  const MetricsFormat format_;
  std::string out_;
  std::string family_;  // The sample name's stem: `name_total` for counters is family_ + suffix.
  bool counter_ = false;
};

// A value as both formats write it: integers without a point, +Inf/-Inf/NaN spelt out.
std::string MetricValue(double v);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PROMETHEUS_EXPOSITION_H_
