// <ctx>/debug/pprof/trace?seconds=F: an execution trace of the window (runtime::RecordTrace).
// Recording switches to trace mode for the window, or, when the window filters by duration
// (min_ns) or depth alone, to a timed mode whose exit hooks write only the calls that pass.
#include <memory>

#include "instrument/state/thread_state.h"
#include "runtime/trace/trace.h"
#include "runtime/windows/windows.h"
#include "server/endpoints/endpoint.h"

namespace hookprof {
namespace server {
namespace {

// Reads the trace's parameters into `filter` and `format`; false with a 400 in `error`.
bool TraceParams(const Call& c, int64_t* nanos, runtime::TraceFilter* filter,
                 runtime::TraceFormat* format, Response* error) {
  for (const auto& [key, value] : c.url.query) {
    int64_t n = 0;
    if (key == "seconds") {
      if (!ParseSeconds(value, true, c.env.max_profile_seconds, nanos)) {
        *error = ErrorResponse(400,
                               "invalid value for \"seconds\" - must be a decimal number "
                               "of seconds in [0.001, " +
                                   std::to_string(c.env.max_profile_seconds) + "]");
        return false;
      }
    } else if (key == "format") {
      if (value != "json" && value != "perfetto") {
        *error = ErrorResponse(400, "invalid value for \"format\" - must be perfetto or json");
        return false;
      }
      *format = value == "json" ? runtime::TraceFormat::kJson : runtime::TraceFormat::kPerfetto;
    } else if (key == "min_ns") {
      if (!ParseNonNegative(value, int64_t{1} << 50, &n)) {
        *error =
            ErrorResponse(400, "invalid value for \"min_ns\" - must be a non-negative integer");
        return false;
      }
      filter->min_ns = n;
    } else if (key == "depth") {
      if (!ParseNonNegative(value, instrument::kMaxDepth, &n)) {
        *error = ErrorResponse(400, "invalid value for \"depth\" - must be an integer in [0, " +
                                        std::to_string(instrument::kMaxDepth) + "]");
        return false;
      }
      filter->max_depth = static_cast<int>(n);
    } else if (key == "max_slices") {
      if (!ParseNonNegative(value, 100000000, &n) || n == 0) {
        *error = ErrorResponse(400,
                               "invalid value for \"max_slices\" - must be an integer in "
                               "[1, 100000000]");
        return false;
      }
      filter->max_slices = static_cast<uint64_t>(n);
    } else if (key == "include") {
      filter->include = value;
    } else if (key == "exclude") {
      filter->exclude = value;
    }
  }
  std::string reason;
  if (!runtime::ValidateTraceFilter(*filter, &reason)) {
    *error = ErrorResponse(400, reason);
    return false;
  }
  return true;
}

}  // namespace

Response Trace(const Call& c) {
  int64_t total = 1000000000;  // Go's default: 1 s.
  runtime::TraceFilter filter;
  runtime::TraceFormat format = runtime::TraceFormat::kPerfetto;
  Response error;
  if (!TraceParams(c, &total, &filter, &format, &error)) return error;
  std::shared_ptr<runtime::TraceCollector> collector =
      runtime::RecordTrace(filter, total, c.env.wait);
  if (collector == nullptr) {
    return ErrorResponse(503,
                         "tracing interrupted: the server is shutting down, or the client closed "
                         "its side of the connection (send the request without shutting down "
                         "writing)");
  }
  const runtime::TraceStats stats = collector->Finish();
  Response r;
  // Encoded while it is sent: the reply is never held whole (a 1 s trace of a busy program is
  // about 100 MB), and a reader that stalls stalls the encoder, not the program's memory.
  r.stream = [collector, format](const BodyWriter& write) { collector->WriteTo(format, write); };
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

}  // namespace server
}  // namespace hookprof
