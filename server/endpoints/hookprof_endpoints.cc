// hookprof's own endpoints: the recording mode, sanitizer coverage, the live charts.
#include <string>

#include "instrument/coverage/coverage.h"
#include "instrument/mode.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/state/thread_state.h"
#include "runtime/budget/budget.h"
#include "runtime/charts/metrics.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/prometheus/exposition.h"
#include "runtime/prometheus/function_metrics.h"
#include "runtime/prometheus/recorder_metrics.h"
#include "runtime/reports/coverage_report.h"
#include "runtime/reports/exclusions.h"
#include "runtime/reports/functions.h"
#include "runtime/reports/latency.h"
#include "runtime/switching/switching.h"
#include "runtime/symbols/symbolizer.h"
#include "runtime/windows/windows.h"
#include "server/endpoints/charts_assets.h"
#include "server/endpoints/endpoint.h"

namespace hookprof {
namespace server {

// GET: the recording mode. POST ?set=off|profile|timing|trace: switches every thread at its next
// hook.
Response Mode(const Call& c) {
  if (c.req.method == "POST") {
    auto it = c.url.query.find("set");
    instrument::Mode mode;
    if (it == c.url.query.end() || !instrument::ParseMode(it->second.c_str(), &mode)) {
      return ErrorResponse(400, "want POST ?set=off, ?set=profile, ?set=timing or ?set=trace");
    }
    instrument::SetMode(mode);
  } else if (!c.url.query.empty()) {
    return ErrorResponse(405, "changing the mode takes a POST");
  }
  Response r;
  r.body = std::string("mode: ") + instrument::ModeName(instrument::GetMode()) + "\n";
  if (const std::string hooks = runtime::HookCallsState(); !hooks.empty()) {
    r.body += "hook calls: " + hooks + "\n";
  }
  return r;
}

// GET: the instrumented functions, hooked or not (format=text|json). POST unhook=RE2, hook=RE2
// or reset=1: switches them at run time (XRay).
Response Functions(const Call& c) {
  const auto& q = c.url.query;
  const auto hook = q.find("hook"), unhook = q.find("unhook"), reset = q.find("reset"),
             budget = q.find("budget");
  const int actions =
      (hook != q.end()) + (unhook != q.end()) + (reset != q.end()) + (budget != q.end());
  if (c.req.method == "POST") {
    if (actions != 1 || q.size() != 1 || (reset != q.end() && reset->second != "1")) {
      return ErrorResponse(400, "POST takes one of unhook=RE2, hook=RE2, reset=1 or budget=N");
    }
    Response r;
    std::string error;
    if (budget != q.end()) {
      int64_t percent = 0;
      if (!ParseNonNegative(budget->second, 100, &percent)) {
        return ErrorResponse(400, "invalid value for \"budget\" - must be an integer in [0, 100]");
      }
      if (!runtime::SetHookBudget(static_cast<int>(percent), &error)) {
        return ErrorResponse(409, error);
      }
      r.body = runtime::BudgetLine(runtime::HookBudget()) + "\n";
      return r;
    }
    size_t changed = 0;
    const bool ok = reset != q.end()
                        ? runtime::HookAllFunctions(&changed, &error)
                        : runtime::SwitchFunctions(hook != q.end() ? hook->second : unhook->second,
                                                   hook != q.end(), &changed, &error);
    if (!ok) return ErrorResponse(error.rfind("bad pattern", 0) == 0 ? 400 : 409, error);
    r.body = std::string(unhook != q.end() ? "unhooked " : "hooked ") + std::to_string(changed) +
             " functions" +
             (hook != q.end() ? " (every match pinned: the budget leaves them)" : "") + "\n";
    return r;
  }
  if (actions != 0) return ErrorResponse(405, "switching functions takes a POST");
  const auto format = q.find("format");
  const bool json = format != q.end() && format->second == "json";
  if (format != q.end() && !json && format->second != "text") {
    return ErrorResponse(400, "invalid value for \"format\" - must be text or json");
  }
  runtime::FunctionList list = runtime::ListFunctions();
  const runtime::BudgetState budget_state = runtime::HookBudget();
  list.budget = runtime::BudgetLine(budget_state);
  list.budget_json = runtime::BudgetJson(budget_state);
  Response r;
  r.body = runtime::FormatFunctionList(list, json);
  if (json) r.content_type = "application/json";
  return r;
}

// Coverage counted since start, since the last POST ?reset=1, or over ?seconds=N; as pprof
// (hits/count with source lines), lcov or text.
Response Coverage(const Call& c) {
  if (!instrument::CoverageActive()) {  // Before anything, POST too: nothing here to reset.
    return ErrorResponse(404,
                         "no sanitizer coverage in this program: build it with "
                         "--config=sancov, --config=sancov-func or --config=sancov-gcc");
  }
  auto reset = c.url.query.find("reset");
  if (c.req.method == "POST" || reset != c.url.query.end()) {
    if (c.req.method != "POST") {
      return ErrorResponse(405, "reset=1 changes state: send it with POST");
    }
    if (reset == c.url.query.end() || reset->second != "1" || c.url.query.size() != 1) {
      return ErrorResponse(400, "POST takes reset=1 and nothing else");
    }
    runtime::ResetCoverageBaseline();
    Response r;
    r.body = "coverage counters reset\n";
    return r;
  }
  std::string format = "pprof";
  auto f = c.url.query.find("format");
  if (f != c.url.query.end()) format = f->second;
  if (format != "pprof" && format != "lcov" && format != "text") {
    return ErrorResponse(400, "invalid value for \"format\" - must be pprof, lcov or text");
  }
  int64_t seconds = 0;
  Response error;
  if (!SecondsParam(c, &seconds, &error)) return error;
  instrument::CoverageCounts counts;
  std::string window;
  if (seconds > 0) {
    auto collect = [] {
      instrument::CoverageCounts now;
      instrument::CollectCoverage(&now);
      return now;
    };
    auto delta = [](const instrument::CoverageCounts& before,
                    const instrument::CoverageCounts& after) {
      return runtime::CoverageDelta(before, after);
    };
    if (!runtime::TableOverWindow(seconds, c.env.wait, collect, delta, &counts)) {
      return Interrupted();
    }
    window = "the last " + std::to_string(seconds) + " s";
  } else {
    counts = runtime::CoverageSinceBaseline(&window);
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
    // No empty success: an lcov file without records is one genhtml rejects without a reason.
    if (std::string why = runtime::WhyNoLcov(view); !why.empty()) return ErrorResponse(422, why);
    r.body = runtime::CoverageLcov(view);
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"coverage.info\"");
    return r;
  }
  runtime::ProfileBuilder builder(runtime::Symbolizer::Current());
  runtime::BuildCoverageProfile(view, seconds * 1000000000, window, &builder);
  return Octet(builder.Finish(), seconds > 0 ? "coverage-delta" : "coverage");
}

// The functions whose hooks cost more than they tell over a ?seconds=N window (default 5), as
// a table and as GCC and XRay exclusion lists (format=gcc|xray for the list alone). POST
// apply=1: those functions are switched off too (functions endpoint), no rebuild needed.
Response Exclusions(const Call& c) {
  runtime::ExclusionParams params;
  int64_t seconds = 5;
  Response error;
  if (!SecondsParam(c, &seconds, &error)) return error;
  std::string format = "text";
  for (const auto& [key, value] : c.url.query) {
    int64_t n = 0;
    if (key == "format") {
      if (value != "text" && value != "gcc" && value != "xray") {
        return ErrorResponse(400, "invalid value for \"format\" - must be text, gcc or xray");
      }
      format = value;
    } else if (key == "apply") {
      if (value != "1") return ErrorResponse(400, "invalid value for \"apply\" - must be 1");
      if (c.req.method != "POST") return ErrorResponse(405, "apply=1 takes a POST");
    } else if (key != "seconds") {
      if (!ParseNonNegative(value, int64_t{1} << 40, &n)) {
        return ErrorResponse(400,
                             "invalid value for \"" + key + "\" - must be a non-negative integer");
      }
      if (key == "min_calls") params.min_calls = static_cast<uint64_t>(n);
      if (key == "max_ns") params.max_self_ns = double(n);
      if (key == "hook_ns") params.hook_ns = double(n);
    }
  }
  runtime::CpuWindow window;
  if (!runtime::CpuWindow::Over(seconds, c.env.wait, &window)) return Interrupted();
  const runtime::ExclusionReport report = runtime::ExclusionsOf(window, params, format != "xray");
  Response r;
  if (c.url.query.count("apply") != 0) {
    std::vector<uintptr_t> fns;
    for (const runtime::ExcludedFunction& f : report.functions) fns.push_back(f.fn);
    size_t changed = 0;
    std::string error;
    if (!runtime::SwitchFunctionsAt(fns, false, &changed, &error,
                                    runtime::SwitchedBy::kExclusions)) {
      return ErrorResponse(409, error);
    }
    r.body = "switched off " + std::to_string(changed) + " of the " + std::to_string(fns.size()) +
             " functions below (POST functions?hook=RE2 or ?reset=1 puts them back)\n\n";
  } else if (c.req.method == "POST") {
    return ErrorResponse(400, "POST takes apply=1");
  }
  r.body += format == "gcc"    ? runtime::GccExcludeFlag(report) + "\n"
            : format == "xray" ? runtime::XrayAttrList(report)
                               : runtime::ExclusionText(report, params);
  return r;
}

// Latency per function (timing mode): the whole run, or a ?seconds=N window; format=text|json,
// sort=<column>, top=N; label=key:value (repeatable) keeps the calls with those labels, by=key
// makes a row per function and value of that label.
Response Latency(const Call& c) {
  int64_t seconds = 0;
  Response error;
  if (!SecondsParam(c, &seconds, &error)) return error;
  std::string format = "text", sort = "total";
  int64_t top = 0;
  runtime::LatencyLabels labels;
  for (const auto& [key, value] : c.url.query) {
    if (key == "label") {
      const size_t colon = value.find(':');
      if (colon == std::string::npos || colon == 0) {
        return ErrorResponse(400, "invalid value for \"label\" - must be key:value");
      }
      labels.match.emplace_back(value.substr(0, colon), value.substr(colon + 1));
    }
    if (key == "by" && value.empty()) {
      return ErrorResponse(400, "invalid value for \"by\" - must be a label key");
    }
    if (key == "by") labels.by = value;
    if (key == "format" && value != "text" && value != "json") {
      return ErrorResponse(400, "invalid value for \"format\" - must be text or json");
    }
    if (key == "format") format = value;
    if (key == "sort") sort = value;
    if (key == "top" && (!ParseNonNegative(value, 1000000, &top) || top == 0)) {
      return ErrorResponse(400, "invalid value for \"top\" - must be an integer in [1, 1000000]");
    }
  }
  runtime::LatencyReport probe;
  if (!runtime::SortLatency(sort, 0, &probe)) {
    return ErrorResponse(400,
                         "invalid value for \"sort\" - must be total, self, calls, min, p50, p90, "
                         "p99, max or name");
  }
  runtime::LatencyReport report;
  if (!runtime::LatencyOverWindow(seconds, c.env.wait, &report, labels)) return Interrupted();
  runtime::SortLatency(sort, static_cast<size_t>(top), &report);
  Response r;
  if (format == "json") {
    r.content_type = "application/json";
    r.body = runtime::LatencyJson(report);
  } else {
    r.body = runtime::LatencyText(report);
  }
  return r;
}

// <ctx>/debug/charts/<asset>: the page, its library, and the history as JSON. The WebSocket
// (ws) is served by the transport through MakeApplication's upgrade.
Response Charts(const Call& c) {
  if (c.name == "data") {
    Response r;
    r.content_type = "application/json";
    r.body = runtime::MetricsJson();
    return r;
  }
  if (c.name == "ws") {
    return ErrorResponse(400, "this is a WebSocket endpoint: connect with Upgrade: websocket");
  }
  const ChartAsset* a = FindChartAsset(c.name);
  if (a == nullptr) return ErrorResponse(404, "not found: " + c.url.path);
  Response r;
  r.content_type = a->content_type;
  r.body.assign(reinterpret_cast<const char*>(a->data), a->size);
  return r;
}

Response Metrics(const Call& c) {
  const runtime::MetricsFormat format = runtime::NegotiateMetricsFormat(c.req.accept);
  runtime::Exposition out(format);
  runtime::WriteFunctionMetrics(&out);
  runtime::WriteRecorderMetrics(&out);
  out.Counter("hookprof_http_requests", "Requests answered, by endpoint and status.");
  for (const AnswerCount& a : AnswerCounts()) {
    out.Add({{"endpoint", a.endpoint}, {"code", std::to_string(a.status)}},
            static_cast<double>(a.count));
  }
  Response r;
  r.content_type = runtime::MetricsContentType(format);
  r.body = out.Finish();
  return r;
}

}  // namespace server
}  // namespace hookprof
