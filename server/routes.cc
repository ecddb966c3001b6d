// The route table: every endpoint, once. Adding an endpoint is one entry here and one handler.
#include "instrument/samplers/contention.h"
#include "instrument/samplers/heap_sampler.h"
#include "runtime/pprof/thread_profile.h"
#include "server/endpoints/endpoint.h"
#include "server/router.h"

namespace hookprof {
namespace server {
namespace {

size_t BlockCount() { return instrument::ContentionBuckets(instrument::Contention::kBlock).size(); }
size_t MutexCount() { return instrument::ContentionBuckets(instrument::Contention::kMutex).size(); }
size_t ThreadCount() { return runtime::LiveThreadStacks().size(); }
size_t CreatorCount() {
  size_t n = 0;
  for (const runtime::ThreadStack& t : runtime::CreatorStacks()) n += t.count;
  return n;
}

std::string HeapRate() {
  return " Sampling rate " + std::to_string(instrument::HeapSampleRate()) + " bytes.";
}
std::string BlockRate() {
  return " Sampling rate " + std::to_string(instrument::BlockProfileRate()) + " ns; 0 = off.";
}
std::string MutexFraction() {
  return " 1 in " + std::to_string(instrument::MutexProfileFraction()) +
         " contentions sampled; 0 = off.";
}

Response PprofDirectory(const Call&) { return MovedTo("pprof/"); }
Response ChartsDirectory(const Call&) { return MovedTo("charts/"); }

constexpr Methods kGetPost = Methods::kGetPost;
constexpr Window kAlways = Window::kAlways;
constexpr Window kWithSeconds = Window::kWithSeconds;
constexpr char kNamedKeys[] = "debug,seconds,format";
constexpr char kStackKeys[] = "debug,seconds";
constexpr char kHeapKeys[] = "debug,gc,seconds,format";
constexpr char kTraceKeys[] = "seconds,format,min_ns,depth,include,exclude,max_slices";

// A route with its fields named; what is not named has the default of a plain GET endpoint
// under the context path that takes any query key, opens no window and has no index row.
class R {
 public:
  constexpr R(const char* name, const char* path, Handler handler) : r_() {
    r_.name = name;
    r_.path = path;
    r_.handler = handler;
  }
  // Matches anything below `path`.
  constexpr R Prefix() const {
    return With([](Route& r) { r.prefix = true; });
  }
  // At the server's root, outside the context path.
  constexpr R AtRoot() const {
    return With([](Route& r) { r.root = true; });
  }
  constexpr R Allow(Methods m) const {
    return With([m](Route& r) { r.methods = m; });
  }
  // The query keys it takes, comma-separated (others get a 400 naming these).
  constexpr R Keys(const char* k) const {
    return With([k](Route& r) { r.keys = k; });
  }
  constexpr R Opens(Window w) const {
    return With([w](Route& r) { r.window = w; });
  }
  // A row on the index page: the link (relative to it) and the description (HTML).
  constexpr R Index(const char* link, const char* doc) const {
    return With([link, doc](Route& r) {
      r.link = link;
      r.doc = doc;
    });
  }
  // A description for docs/endpoints.md alone (no index row).
  constexpr R Doc(const char* doc) const {
    return With([doc](Route& r) { r.doc = doc; });
  }
  constexpr R Count(size_t (*count)()) const {
    return With([count](Route& r) { r.count = count; });
  }
  constexpr R Details(std::string (*details)()) const {
    return With([details](Route& r) { r.details = details; });
  }
  constexpr operator Route() const { return r_; }  // NOLINT: the table is a list of R.

 private:
  template <typename F>
  constexpr R With(F set) const {
    R copy = *this;
    set(copy.r_);
    return copy;
  }
  Route r_;
};

const Route kRoutes[] = {
    R("index", "/debug/pprof/", &Index)
        .Doc("This index: every profile with its count, and the recorder's counters (threads, "
             "call paths, everything dropped)."),
    R("cmdline", "/debug/pprof/cmdline", &Cmdline)
        .Index("cmdline", "The command line invocation of the current program."),
    R("profile", "/debug/pprof/profile", &Profile)
        .Keys("seconds,format")
        .Opens(kAlways)
        .Index("profile?seconds=30",
               "CPU profile with exact call counts (sample types samples, cpu, calls). Add "
               "seconds=N for the window; fetch it with go tool pprof."),
    R("allocs", "/debug/pprof/allocs", &HeapProfile)
        .Keys(kHeapKeys)
        .Opens(kWithSeconds)
        .Index("allocs?debug=1",
               "A sampling of all past memory allocations (alloc_space by default)."),
    R("heap", "/debug/pprof/heap", &HeapProfile)
        .Keys(kHeapKeys)
        .Opens(kWithSeconds)
        .Index("heap?debug=1",
               "A sampling of memory allocations of live objects (inuse_space by default).")
        .Details(&HeapRate),
    R("block", "/debug/pprof/block", &ContentionProfile)
        .Keys(kNamedKeys)
        .Opens(kWithSeconds)
        .Index("block?debug=1",
               "Stack traces that led to blocking on condition variables and thread joins.")
        .Count(&BlockCount)
        .Details(&BlockRate),
    R("goroutine", "/debug/pprof/goroutine", &StackCountProfile)
        .Keys(kStackKeys)
        .Opens(kWithSeconds)
        .Index(
            "goroutine?debug=1",
            "Stack traces of all live threads (also at <a href=\"threads?debug=1\">threads</a>). "
            "Use debug=2 for a dump with thread names, ids and states.")
        .Count(&ThreadCount),
    R("threads", "/debug/pprof/threads", &StackCountProfile)
        .Keys(kStackKeys)
        .Opens(kWithSeconds)
        .Doc("goroutine under its C++ name."),
    R("threadcreate", "/debug/pprof/threadcreate", &StackCountProfile)
        .Keys(kStackKeys)
        .Opens(kWithSeconds)
        .Index("threadcreate?debug=1", "Stack traces that led to the creation of new threads.")
        .Count(&CreatorCount),
    R("mutex", "/debug/pprof/mutex", &ContentionProfile)
        .Keys(kNamedKeys)
        .Opens(kWithSeconds)
        .Index("mutex?debug=1", "Stack traces of waiters for contended mutexes.")
        .Count(&MutexCount)
        .Details(&MutexFraction),
    // gperftools' pprof finds the symbol page only from profile paths it knows, and names lock
    // contention "contention": the mutex profile under that name.
    R("contention", "/debug/pprof/contention", &ContentionProfile)
        .Keys(kNamedKeys)
        .Opens(kWithSeconds)
        .Doc("mutex under gperftools' name (google-pprof asks for it)."),
    R("trace", "/debug/pprof/trace", &Trace)
        .Keys(kTraceKeys)
        .Opens(kAlways)
        .Index("trace?seconds=1",
               "Execution trace: every instrumented call on every thread in the window, as a "
               "Perfetto trace (open it in ui.perfetto.dev); format=json for Chrome's trace "
               "format; filters min_ns (applied in the hooks: a busy program loses nothing), "
               "depth, include, exclude."),
    R("symbol", "/debug/pprof/symbol", &Symbol)
        .Allow(kGetPost)
        .Index("symbol", "Maps addresses to function names (pprof's symbol protocol)."),
    R("symbolz", "/symbolz", &Symbol)
        .AtRoot()
        .Allow(kGetPost)
        .Doc("symbol at the server's root: go tool pprof posts there whenever the profile URL "
             "has a context path."),
    R("charts", "/debug/charts/", &Charts)
        .Prefix()
        .Keys("")
        .Index("../charts/",
               "Live charts: CPU, memory, threads, calls per second, drops, top functions; ten "
               "minutes of history (JSON at <a href=\"../charts/data\">../charts/data</a>)."),
    R("coverage", "/debug/coverage", &Coverage)
        .Allow(Methods::kGetStatePost)
        .Keys("format,seconds,reset")
        .Opens(kWithSeconds)
        .Index("../coverage?format=text",
               "Sanitizer coverage (builds with --config=sancov*): pprof hits/count, format=lcov, "
               "format=text; seconds=N; POST reset=1."),
    R("mode", "/debug/hookprof/mode", &Mode)
        .Allow(Methods::kGetStatePost)
        .Keys("set")
        .Index("../hookprof/mode",
               "The recording mode: GET it; POST ?set=off|profile|timing|trace switches it."),
    R("exclusions", "/debug/hookprof/exclusions", &Exclusions)
        .Allow(Methods::kGetStatePost)
        .Keys("seconds,min_calls,max_ns,hook_ns,format,apply")
        .Opens(kAlways)
        .Index("../hookprof/exclusions?seconds=5",
               "Functions whose hooks cost more than they tell (many calls, little own time per "
               "call) over the window, with the hook time saved, as GCC's "
               "-finstrument-functions-exclude-function-list and an XRay attribute list; "
               "min_calls, max_ns, hook_ns, format=gcc|xray; POST apply=1 switches those "
               "functions off now, without a rebuild."),
    R("functions", "/debug/hookprof/functions", &Functions)
        .Allow(Methods::kGetStatePost)
        .Keys("format,hook,unhook,reset,budget")
        .Index("../hookprof/functions",
               "The instrumented functions with their calls, hooked or not; POST unhook=RE2, "
               "hook=RE2 (pinned) or reset=1 switches them at run time (XRay sleds patched, "
               "compiler hook calls taken out of the code); budget=N keeps hooks under N % of "
               "the CPU."),
    R("latency", "/debug/hookprof/latency", &Latency)
        .Keys("seconds,format,sort,top,label*,by")
        .Opens(kWithSeconds)
        .Index("../hookprof/latency",
               "Latency per function in timing mode: calls, total, self, min, p50, p90, p99, max; "
               "seconds=N for a window, format=json, sort=&lt;column&gt;, top=N, "
               "label=key:value for the calls with that label, by=key for a row per value."),
    R("metrics", "/metrics", &Metrics)
        .Keys("")
        .Index(
            "../../metrics",
            "Metrics for Prometheus (text format 0.0.4, or OpenMetrics when asked): exact "
            "calls, CPU seconds and call durations per function, the recorder's counters, "
            "requests served (also at <a href=\"../hookprof/metrics\">../hookprof/metrics</a>)."),
    R("metrics", "/debug/hookprof/metrics", &Metrics)
        .Keys("")
        .Doc("metrics under hookprof's own directory."),
    // The directories without their slash: relative redirects keep the context path.
    R("pprof", "/debug/pprof", &PprofDirectory).Allow(Methods::kAny),
    R("charts", "/debug/charts", &ChartsDirectory).Allow(Methods::kAny),
};

}  // namespace

const Route* Routes(size_t* n) {
  *n = sizeof(kRoutes) / sizeof(kRoutes[0]);
  return kRoutes;
}

}  // namespace server
}  // namespace hookprof
