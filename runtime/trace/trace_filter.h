// What a trace keeps: the filters of the trace endpoint and of the flight recorder, the name
// matcher that applies their regular expressions (RE2: linear time, whatever the pattern), and
// the part of a filter the hooks apply themselves.
//
// Thread-safety: TraceFilter is a value; a NameMatcher is used by one thread at a time.
#ifndef HOOKPROF_RUNTIME_TRACE_TRACE_FILTER_H_
#define HOOKPROF_RUNTIME_TRACE_TRACE_FILTER_H_

#include <stdint.h>

#include <memory>
#include <string>

namespace re2 {
class RE2;
}  // namespace re2

namespace hookprof {
namespace runtime {

struct TraceFilter {
  int64_t min_ns = 0;  // Drop slices shorter than this.
  // Write only the outermost N levels of the slices the other filters keep; 0 = no limit.
  int max_depth = 0;
  std::string include;  // Keep only functions whose name matches (RE2 syntax), if set.
  std::string exclude;  // Drop functions whose name matches, if set.
  // At most this many slices are kept (24 bytes each, about 50 bytes each once encoded);
  // further ones are dropped and counted. A hot loop makes tens of millions of calls a second:
  // filters (min_ns above all) keep long windows useful.
  uint64_t max_slices = 2000000;
};

// Checks the filter's values and regular expressions; false with a one-line reason if one is
// invalid.
bool ValidateTraceFilter(const TraceFilter& filter, std::string* reason);

// The include and exclude expressions of a valid filter, compiled once.
class NameMatcher {
 public:
  explicit NameMatcher(const TraceFilter& filter);
  ~NameMatcher();
  // Whether the filter has any expression (if not, every name is kept).
  bool active() const { return include_ != nullptr || exclude_ != nullptr; }
  bool Keep(const std::string& name) const;

 private:
  std::unique_ptr<re2::RE2> include_, exclude_;
};

// What the hooks write for a window. A window with a duration filter (or a depth filter alone)
// is filtered in the hooks: each call that passes is written once, complete, at its exit, to the
// thread's slice ring, so a busy program loses nothing and the trace is ready when the window
// ends. Other windows read every enter and exit from the trace rings and filter as they pair.
struct HookSliceFilter {
  bool on = false;
  uint64_t min_ticks = 0;  // TSC ticks, a little under the filter's min_ns (the collector
                           // applies min_ns exactly).
  uint32_t max_depth = 0;  // Stack depth; 0 = any.
};
HookSliceFilter SliceFilterFor(const TraceFilter& filter);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_TRACE_TRACE_FILTER_H_
