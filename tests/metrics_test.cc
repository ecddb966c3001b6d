// <ctx>/metrics through the public handler: exact call counts, durations in the buckets of
// their measured lengths, counters that never go down, the bound on series, the formats.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "hookprof.h"
#include "runtime/prometheus/exposition.h"
#include "runtime/prometheus/function_metrics.h"
#include "tests/workload.h"

namespace {

// Every sample of an exposition: "name{labels}" -> value.
std::map<std::string, double> Samples(const std::string& body) {
  std::map<std::string, double> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

hookprof::HttpResponse Scrape(const std::string& accept = "") {
  hookprof::HttpRequest r;
  r.method = "GET";
  r.target = "/m/metrics";
  r.accept = accept;
  return hookprof::HandleHttp(r);
}

std::map<std::string, double> ScrapeSamples() {
  const hookprof::HttpResponse r = Scrape();
  EXPECT_EQ(r.status, 200) << r.body;
  return Samples(r.body);
}

void Start(const std::string& functions, int top = 20, int max_functions = 500,
           const std::string& labels = "") {
  hookprof::Options options;
  options.serve = false;
  options.context_path = "/m";
  options.cpu_hz = 0;
  options.metrics_functions = functions;
  options.metrics_top = top;
  options.metrics_max_functions = max_functions;
  options.metrics_labels = labels;
  std::string error;
  ASSERT_TRUE(hookprof::Use(options, &error)) << error;
}

void SetMode(const std::string& mode) {
  hookprof::HttpRequest r{"POST", "/m/debug/hookprof/mode?set=" + mode, "", "", "", ""};
  ASSERT_EQ(hookprof::HandleHttp(r).status, 200);
}

constexpr char kLeafCalls[] = "hookprof_function_calls_total{function=\"workload::Leaf()\"}";

// Every counter and histogram series in `after` that was in `before` is at least as large.
void ExpectNoneWentDown(const std::map<std::string, double>& before,
                        const std::map<std::string, double>& after) {
  for (const auto& [series, value] : before) {
    if (series.find("_total") == std::string::npos && series.find("_bucket") == std::string::npos &&
        series.find("_count") == std::string::npos && series.find("_sum") == std::string::npos) {
      continue;  // Gauges.
    }
    auto it = after.find(series);
    ASSERT_NE(it, after.end()) << series << " is gone";
    EXPECT_GE(it->second, value) << series;
  }
}

TEST(MetricsTest, CountsEveryCallExactlyAndNeverGoesDownAcrossModesAndRestarts) {
  Start("^workload::(Leaf|Middle)\\(");
  SetMode("profile");
  const auto start = ScrapeSamples();
  const double base = start.count(kLeafCalls) ? start.at(kLeafCalls) : 0;
  workload::Outer(10, 10);  // 100 Leaf calls.
  const auto profiled = ScrapeSamples();
  ExpectNoneWentDown(start, profiled);
  EXPECT_EQ(profiled.at(kLeafCalls), base + 100);
  SetMode("off");
  workload::Outer(10, 10);  // Not recorded.
  const auto off = ScrapeSamples();
  ExpectNoneWentDown(profiled, off);
  EXPECT_EQ(off.at(kLeafCalls), base + 100);
  SetMode("timing");
  workload::Outer(10, 10);
  const auto timed = ScrapeSamples();
  ExpectNoneWentDown(off, timed);
  EXPECT_EQ(timed.at(kLeafCalls), base + 200);
  hookprof::Stop();
  Start("^workload::(Leaf|Middle)\\(");
  SetMode("profile");
  workload::Outer(10, 10);
  const auto restarted = ScrapeSamples();
  ExpectNoneWentDown(timed, restarted);
  EXPECT_EQ(restarted.at(kLeafCalls), base + 300);
  EXPECT_EQ(restarted.at("hookprof_mode{mode=\"profile\"}"), 1);
  EXPECT_EQ(restarted.at("hookprof_mode{mode=\"off\"}"), 0);
  hookprof::Stop();
}

TEST(MetricsTest, PutsTimedCallsInTheBucketsOfTheirMeasuredDurations) {
  Start("^workload::Nap\\(");
  SetMode("timing");
  const std::string series = "hookprof_function_duration_seconds";
  const std::string fn = "function=\"workload::Nap(int)\"";
  const auto before = ScrapeSamples();
  auto at = [&](const std::map<std::string, double>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? 0.0 : it->second;
  };
  double measured = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    workload::Nap(3);
    measured += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const auto after = ScrapeSamples();
  ExpectNoneWentDown(before, after);
  const std::string count = series + "_count{" + fn + "}";
  const std::string sum = series + "_sum{" + fn + "}";
  EXPECT_EQ(at(after, count) - at(before, count), 5);
  // Each call is timed inside the interval measured around it, at its bucket's midpoint (within
  // 1/64); the hooks' own time is far below 1 ms.
  const double recorded = at(after, sum) - at(before, sum);
  EXPECT_LE(recorded, measured * (1 + 1.0 / 64)) << measured;
  EXPECT_GE(recorded, (measured - 5e-3) * (1 - 1.0 / 64)) << measured;
  // Naps of 3 ms or more: none below 2.5 ms, all at or below +Inf.
  const std::string below = series + "_bucket{" + fn + ",le=\"0.0025\"}";
  const std::string all = series + "_bucket{" + fn + ",le=\"+Inf\"}";
  EXPECT_EQ(at(after, below) - at(before, below), 0);
  EXPECT_EQ(at(after, all) - at(before, all), 5);
  hookprof::Stop();
}

TEST(MetricsTest, SplitsAFunctionsSeriesByTheLabelKeysAsked) {
  Start("^workload::Leaf\\(", 20, 500, "endpoint, tenant");
  SetMode("profile");
  std::thread([] {
    hookprof::LabelScope scope({{"endpoint", "/a"}, {"tenant", "1"}, {"other", "x"}});
    workload::Middle(7);
  }).join();
  std::thread([] {
    hookprof::LabelScope scope({{"endpoint", "/b"}});
    workload::Middle(9);
  }).join();
  const auto m = ScrapeSamples();
  EXPECT_EQ(m.at("hookprof_function_calls_total{function=\"workload::Leaf()\",endpoint=\"/a\","
                 "tenant=\"1\"}"),
            7);
  EXPECT_EQ(m.at("hookprof_function_calls_total{function=\"workload::Leaf()\",endpoint=\"/b\"}"),
            9);
  hookprof::Stop();
  // Bad keys: a one-line reason, and the metrics go on without them.
  hookprof::Options options;
  options.serve = false;
  options.context_path = "/m";
  options.metrics_labels = "endpoint,le";
  std::string error;
  EXPECT_FALSE(hookprof::Use(options, &error));
  EXPECT_NE(error.find("\"le\" is not"), std::string::npos) << error;
  hookprof::Stop();
}

TEST(MetricsTest, ServesAtTheConfiguredPathAndSaysWhereWhenAskedAtTheOldOne) {
  hookprof::Options options;
  options.serve = false;
  options.context_path = "/m";
  options.metrics_path = "prom/metrics/";
  std::string error;
  ASSERT_TRUE(hookprof::Use(options, &error)) << error;
  const auto get = [](const std::string& target) {
    return hookprof::HandleHttp({"GET", target, "", "", "", ""});
  };
  const hookprof::HttpResponse moved = get("/m/prom/metrics");
  EXPECT_EQ(moved.status, 200);
  EXPECT_NE(moved.body.find("hookprof_function_calls_total"), std::string::npos);
  EXPECT_EQ(get("/m/debug/hookprof/metrics").status, 200);
  const hookprof::HttpResponse old = get("/m/metrics");
  EXPECT_EQ(old.status, 404);
  EXPECT_NE(old.body.find("the metrics are at /m/prom/metrics"), std::string::npos) << old.body;
  hookprof::Stop();
  for (const char* bad : {"/debug/metrics", "/a b", ""}) {
    options.metrics_path = bad;
    EXPECT_FALSE(hookprof::Use(options, &error)) << bad;
    EXPECT_NE(error.find("invalid metrics path"), std::string::npos) << error;
    hookprof::Stop();
  }
}

TEST(MetricsTest, FoldsFunctionsPastTheBoundIntoOther) {
  Start("^workload::(Outer|Middle|Leaf)\\(", /*top=*/0, /*max_functions=*/2);
  SetMode("profile");
  workload::Outer(3, 3);
  const auto m = ScrapeSamples();
  int own = 0;
  for (const auto& [series, value] : m) {
    if (series.rfind("hookprof_function_calls_total{", 0) != 0) continue;
    own += series.find("function=\"other\"") == std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(own, 2);
  EXPECT_EQ(m.at("hookprof_metrics_functions{kind=\"exported\"}"), 2);
  EXPECT_GE(m.at("hookprof_metrics_functions{kind=\"folded\"}"), 1);
  hookprof::Stop();
}

TEST(MetricsTest, HandsOutNoNewSeriesWhileTheRankingStands) {
  Start("", /*top=*/1);
  SetMode("profile");
  workload::Outer(100, 100);  // Leaf leads by far: 10,000 calls.
  // The one with most calls, and the one with most CPU (none: sampling is off).
  for (int i = 0; i < 3; ++i) {
    const auto m = ScrapeSamples();
    EXPECT_EQ(m.at("hookprof_metrics_functions{kind=\"exported\"}"), 1) << "scrape " << i;
    EXPECT_EQ(m.count(kLeafCalls), 1u) << "scrape " << i;
  }
  hookprof::Stop();
}

TEST(MetricsTest, SpeaksOpenMetricsWhenAskedAndTheTextFormatOtherwise) {
  Start("");
  const hookprof::HttpResponse om = Scrape(
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
      "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
  ASSERT_EQ(om.status, 200);
  EXPECT_EQ(om.body.substr(om.body.size() - 6), "# EOF\n");
  EXPECT_NE(om.body.find("# TYPE hookprof_function_calls counter\n"), std::string::npos);
  for (const std::string accept :
       {"", "garbage;;;,", "text/plain", "application/openmetrics-text;q=0"}) {
    const hookprof::HttpResponse text = Scrape(accept);
    ASSERT_EQ(text.status, 200) << accept;
    EXPECT_EQ(text.body.find("# EOF"), std::string::npos) << accept;
    EXPECT_NE(text.body.find("# TYPE hookprof_function_calls_total counter\n"), std::string::npos);
  }
  hookprof::HttpRequest bad{"GET", "/m/metrics?seconds=5", "", "", "", ""};
  EXPECT_EQ(hookprof::HandleHttp(bad).status, 400);
  hookprof::Stop();
}

TEST(MetricsTest, EscapesLabelValuesAndHelpText) {
  hookprof::runtime::Exposition e(hookprof::runtime::MetricsFormat::kText);
  e.Counter("x", "a \\ b\nc");
  e.Add({{"function", "operator\"\" _q(char const*)\\\n"}}, 1.5);
  EXPECT_EQ(e.Finish(),
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\n"
            "x_total{function=\"operator\\\"\\\" _q(char const*)\\\\\\n\"} 1.5\n");
}

TEST(MetricsTest, RejectsBucketLaddersThatAreNotIncreasingPositiveSeconds) {
  std::vector<double> b;
  std::string error;
  EXPECT_TRUE(hookprof::runtime::ParseMetricBuckets("0.001, 0.01,1", &b, &error)) << error;
  EXPECT_EQ(b, (std::vector<double>{0.001, 0.01, 1}));
  for (const char* bad : {"", "0.1,0.05", "abc", "-1", "0", "1,,2", "inf"}) {
    EXPECT_FALSE(hookprof::runtime::ParseMetricBuckets(bad, &b, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
  hookprof::Options options;
  options.serve = false;
  options.metrics_buckets = "1,0.5";
  EXPECT_FALSE(hookprof::Use(options, &error));
  EXPECT_NE(error.find("increasing"), std::string::npos) << error;
  options.metrics_buckets = "";
  options.metrics_functions = "(unclosed";
  EXPECT_FALSE(hookprof::Use(options, &error));
  EXPECT_NE(error.find("metrics"), std::string::npos) << error;
  hookprof::Stop();
}

}  // namespace
