#include "runtime/prometheus/exposition.h"

#include <charconv>
#include <cmath>

namespace hookprof {
namespace runtime {
namespace {

// `\` and line feeds in HELP text; `"` too in label values.
std::string Escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return s;
}

}  // namespace

MetricsFormat NegotiateMetricsFormat(const std::string& accept) {
  // Media ranges separated by commas, parameters by semicolons: "type;version=1.0.0;q=0.75".
  size_t at = 0;
  while (at <= accept.size()) {
    size_t comma = accept.find(',', at);
    if (comma == std::string::npos) comma = accept.size();
    const std::string range = Lower(accept.substr(at, comma - at));
    at = comma + 1;
    const size_t semi = range.find(';');
    std::string type = range.substr(0, semi);
    type.erase(0, type.find_first_not_of(" \t"));
    type.erase(type.find_last_not_of(" \t") + 1);
    if (type != "application/openmetrics-text") continue;
    bool zero = false;
    for (size_t p = semi; p != std::string::npos; p = range.find(';', p + 1)) {
      const size_t q = range.find_first_not_of(" \t", p + 1);
      if (q != std::string::npos && range.compare(q, 2, "q=") == 0) {
        const std::string v = range.substr(q + 2, range.find(';', q) - q - 2);
        zero = v.find_first_not_of("0. \t") == std::string::npos;
      }
    }
    if (!zero) return MetricsFormat::kOpenMetrics;
  }
  return MetricsFormat::kText;
}

const char* MetricsContentType(MetricsFormat format) {
  return format == MetricsFormat::kOpenMetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

std::string MetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: exact integers.
    const auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v));
    return std::string(buf, r.ptr);
  }
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);  // Shortest round-trip form.
  return std::string(buf, r.ptr);
}

void Exposition::Declare(const std::string& name, const char* type, const std::string& help) {
  family_ = name;
  // The text format names a counter's family as its samples are named.
  const std::string shown = counter_ && format_ == MetricsFormat::kText ? name + "_total" : name;
  out_ += "# HELP " + shown + " " + Escape(help, false) + "\n";
  out_ += "# TYPE " + shown + " " + type + "\n";
}

void Exposition::Counter(const std::string& name, const std::string& help) {
  counter_ = true;
  Declare(name, "counter", help);
}

void Exposition::Gauge(const std::string& name, const std::string& help) {
  counter_ = false;
  Declare(name, "gauge", help);
}

void Exposition::Histogram(const std::string& name, const std::string& help) {
  counter_ = false;
  Declare(name, "histogram", help);
}

void Exposition::Line(const std::string& name, const MetricLabels& labels,
                      const std::string& value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first + "=\"" + Escape(labels[i].second, true) + "\"";
    }
    out_ += '}';
  }
  out_ += ' ' + value + '\n';
}

void Exposition::Add(const MetricLabels& labels, double value) {
  Line(counter_ ? family_ + "_total" : family_, labels, MetricValue(value));
}

void Exposition::AddHistogram(const MetricLabels& labels, const std::vector<double>& bounds,
                              const std::vector<uint64_t>& counts, double sum) {
  MetricLabels with_le = labels;
  with_le.emplace_back("le", "");
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    with_le.back().second = i < bounds.size() ? MetricValue(bounds[i]) : "+Inf";
    Line(family_ + "_bucket", with_le, std::to_string(cumulative));
  }
  Line(family_ + "_sum", labels, MetricValue(sum));
  Line(family_ + "_count", labels, std::to_string(cumulative));
}

std::string Exposition::Finish() {
  if (format_ == MetricsFormat::kOpenMetrics) out_ += "# EOF\n";
  return std::move(out_);
}

}  // namespace runtime
}  // namespace hookprof
