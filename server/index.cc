// <ctx>/debug/pprof/: the index, generated from the route table, and the recorder's counters
// (nothing dropped silently: every loss counted shows here).
#include <sstream>

#include "instrument/samplers/cpu_sampler.h"
#include "instrument/state/thread_state.h"
#include "runtime/core/snapshot.h"
#include "runtime/switching/switching.h"
#include "server/endpoints/endpoint.h"
#include "server/router.h"

namespace hookprof {
namespace server {
namespace {

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string EndpointsMarkdown() {
  auto plain = [](const char* html) {  // Descriptions are HTML for the index page: tags out.
    std::string out;
    bool tag = false;
    for (const char* p = html; *p != '\0'; ++p) {
      if (*p == '<') tag = true;
      if (!tag) out += *p == '|' ? '/' : *p;
      if (*p == '>') tag = false;
    }
    for (const auto& [entity, c] :
         {std::pair<std::string, std::string>{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}) {
      for (size_t at = 0; (at = out.find(entity, at)) != std::string::npos; at += c.size()) {
        out.replace(at, entity.size(), c);
      }
    }
    return out;
  };
  auto methods = [](Methods m) {
    switch (m) {
      case Methods::kGet:
        return "GET";
      case Methods::kGetPost:
        return "GET, POST";
      case Methods::kGetStatePost:
        return "GET, POST (same origin)";
      case Methods::kAny:
        break;
    }
    return "any";
  };
  std::string t = "| endpoint | methods | query keys | what |\n| --- | --- | --- | --- |\n";
  size_t n = 0;
  const Route* routes = Routes(&n);
  for (const Route* r = routes; r != routes + n; ++r) {
    if (r->doc == nullptr) continue;
    t += std::string("| `") + (r->root ? "" : "<ctx>") + r->path + (r->prefix ? "..." : "") +
         "` | " + methods(r->methods) + " | " +
         (r->keys == nullptr   ? "any"
          : r->keys[0] == '\0' ? "none"
                               : r->keys) +
         " | " + plain(r->doc) + " |\n";
  }
  return t;
}

Response Index(const Call& c) {
  const std::string title = HtmlEscape(c.env.context_path) + "/debug/pprof/";
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << title << "</title>"
    << "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
       "td,th{padding:2px 10px;text-align:left}</style></head><body>\n"
    << "<h1>" << title << "</h1>\n"
    << (c.env.warnings.empty() ? ""
                               : "<p><strong>" + HtmlEscape(c.env.warnings) + "</strong></p>\n")
    << "<p>Set debug=1 as a query parameter to export in legacy text format</p>\n"
    << "<table><tr><th>Count</th><th>Profile</th><th>Description</th></tr>\n";
  size_t n = 0;
  const Route* routes = Routes(&n);
  for (const Route* r = routes; r != routes + n; ++r) {
    if (r->link == nullptr) continue;
    h << "<tr><td>" << (r->count != nullptr ? std::to_string(r->count()) : "")
      << "</td><td><a href=\"" << r->link << "\">" << r->name << "</a></td><td>" << r->doc
      << (r->details != nullptr ? r->details() : "") << "</td></tr>\n";
  }
  const runtime::Snapshot snap = runtime::Snapshot::Take();
  uint64_t nodes = 0, live = 0;
  runtime::ThreadCounters total;
  for (const auto& t : snap.threads) {
    nodes += t.calls.size();
    total.Add(t.counters);
    live += t.alive ? 1 : 0;
  }
  h << "</table>\n<h2>Recorder</h2>\n<table>\n"
    << "<tr><td>mode</td><td>" << instrument::ModeName(instrument::GetMode()) << "</td></tr>\n"
    << "<tr><td>hook calls</td><td>" << HtmlEscape(runtime::HookCallsState()) << "</td></tr>\n"
    << "<tr><td>threads recorded (live)</td><td>" << snap.threads.size() << " (" << live
    << ")</td></tr>\n"
    << "<tr><td>call-path nodes</td><td>" << nodes << "</td></tr>\n"
    << "<tr><td>CPU sampling period</td><td>" << instrument::CpuSamplingPeriodNanos()
    << " ns</td></tr>\n"
#define HOOKPROF_THREAD_COUNTER(field, loss, label, comment) \
  << "<tr><td>" label "</td><td>" << total.field << "</td></tr>\n"
#include "instrument/state/thread_counters.inc"
#undef HOOKPROF_THREAD_COUNTER
    << "<tr><td>CPU samples on unrecorded threads</td><td>" << snap.unattributed_samples
    << "</td></tr>\n</table>\n</body></html>\n";
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = h.str();
  return r;
}

}  // namespace server
}  // namespace hookprof
