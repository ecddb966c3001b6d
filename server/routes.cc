// The route table: every endpoint, once. Adding an endpoint is one entry here and one handler.
#include "instrument/contention.h"
#include "instrument/heap_sampler.h"
#include "runtime/pprof/thread_profile.h"
#include "server/endpoint.h"

namespace hookprof {
namespace server {
namespace {

size_t BlockCount() { return instrument::ContentionBuckets(instrument::Contention::kBlock).size(); }
size_t MutexCount() { return instrument::ContentionBuckets(instrument::Contention::kMutex).size(); }
size_t ThreadCount() { return runtime::LiveThreadStacks().size(); }
size_t CreatorCount() { return runtime::CreatorStacks().size(); }

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

constexpr Methods kGet = Methods::kGet;
constexpr Methods kGetPost = Methods::kGetPost;
constexpr Window kNever = Window::kNever;
constexpr Window kAlways = Window::kAlways;
constexpr Window kWithSeconds = Window::kWithSeconds;
constexpr char kNamedKeys[] = "debug,seconds,format";
constexpr char kStackKeys[] = "debug,seconds";
constexpr char kHeapKeys[] = "debug,gc,seconds,format";
constexpr char kTraceKeys[] = "seconds,format,min_ns,depth,include,exclude,max_slices";

// name, path, prefix, root, methods, keys, window, handler, index link, doc, count, details
const Route kRoutes[] = {
    {"index", "/debug/pprof/", false, false, kGet, nullptr, kNever, &Index, nullptr, nullptr,
     nullptr, nullptr},
    {"cmdline", "/debug/pprof/cmdline", false, false, kGet, nullptr, kNever, &Cmdline, "cmdline",
     "The command line invocation of the current program.", nullptr, nullptr},
    {"profile", "/debug/pprof/profile", false, false, kGet, "seconds,format", kAlways, &Profile,
     "profile?seconds=30",
     "CPU profile with exact call counts (sample types samples, cpu, calls). Add seconds=N for "
     "the window; fetch it with go tool pprof.",
     nullptr, nullptr},
    {"allocs", "/debug/pprof/allocs", false, false, kGet, kHeapKeys, kWithSeconds, &HeapProfile,
     "allocs?debug=1", "A sampling of all past memory allocations (alloc_space by default).",
     nullptr, nullptr},
    {"heap", "/debug/pprof/heap", false, false, kGet, kHeapKeys, kWithSeconds, &HeapProfile,
     "heap?debug=1", "A sampling of memory allocations of live objects (inuse_space by default).",
     nullptr, &HeapRate},
    {"block", "/debug/pprof/block", false, false, kGet, kNamedKeys, kWithSeconds,
     &ContentionProfile, "block?debug=1",
     "Stack traces that led to blocking on condition variables and thread joins.", &BlockCount,
     &BlockRate},
    {"goroutine", "/debug/pprof/goroutine", false, false, kGet, kStackKeys, kWithSeconds,
     &StackCountProfile, "goroutine?debug=1",
     "Stack traces of all live threads (also at <a href=\"threads?debug=1\">threads</a>). Use "
     "debug=2 for a dump with thread names, ids and states.",
     &ThreadCount, nullptr},
    {"threads", "/debug/pprof/threads", false, false, kGet, kStackKeys, kWithSeconds,
     &StackCountProfile, nullptr, nullptr, nullptr, nullptr},
    {"threadcreate", "/debug/pprof/threadcreate", false, false, kGet, kStackKeys, kWithSeconds,
     &StackCountProfile, "threadcreate?debug=1",
     "Stack traces that led to the creation of new threads.", &CreatorCount, nullptr},
    {"mutex", "/debug/pprof/mutex", false, false, kGet, kNamedKeys, kWithSeconds,
     &ContentionProfile, "mutex?debug=1", "Stack traces of waiters for contended mutexes.",
     &MutexCount, &MutexFraction},
    // gperftools' pprof finds the symbol page only from profile paths it knows, and names lock
    // contention "contention": the mutex profile under that name.
    {"contention", "/debug/pprof/contention", false, false, kGet, kNamedKeys, kWithSeconds,
     &ContentionProfile, nullptr, nullptr, nullptr, nullptr},
    {"trace", "/debug/pprof/trace", false, false, kGet, kTraceKeys, kAlways, &Trace,
     "trace?seconds=1",
     "Execution trace: every instrumented call on every thread in the window, as a Perfetto "
     "trace (open it in ui.perfetto.dev); format=json for Chrome's trace format; filters "
     "min_ns (applied in the hooks: a busy program loses nothing), depth, include, exclude.",
     nullptr, nullptr},
    {"symbol", "/debug/pprof/symbol", false, false, kGetPost, nullptr, kNever, &Symbol, "symbol",
     "Maps addresses to function names (pprof's symbol protocol).", nullptr, nullptr},
    {"symbolz", "/symbolz", false, true, kGetPost, nullptr, kNever, &Symbol, nullptr, nullptr,
     nullptr, nullptr},
    {"charts", "/debug/charts/", true, false, kGet, "", kNever, &Charts, "../charts/",
     "Live charts: CPU, memory, threads, calls per second, drops, top functions; ten minutes "
     "of history (JSON at <a href=\"../charts/data\">../charts/data</a>).",
     nullptr, nullptr},
    {"coverage", "/debug/coverage", false, false, Methods::kGetStatePost, "format,seconds,reset",
     kWithSeconds, &Coverage, "../coverage?format=text",
     "Sanitizer coverage (builds with --config=sancov*): pprof hits/count, format=lcov, "
     "format=text; seconds=N; POST reset=1.",
     nullptr, nullptr},
    {"mode", "/debug/hookprof/mode", false, false, Methods::kGetStatePost, "set", kNever, &Mode,
     "../hookprof/mode",
     "The recording mode: GET it; POST ?set=off|profile|timing|trace switches it.", nullptr,
     nullptr},
    {"exclusions", "/debug/hookprof/exclusions", false, false, kGet,
     "seconds,min_calls,max_ns,hook_ns,format", kAlways, &Exclusions,
     "../hookprof/exclusions?seconds=5",
     "Functions whose hooks cost more than they tell (many calls, little own time per call) "
     "over the window, with the hook time saved, as GCC's "
     "-finstrument-functions-exclude-function-list and an XRay attribute list; min_calls, "
     "max_ns, hook_ns, format=gcc|xray.",
     nullptr, nullptr},
    {"latency", "/debug/hookprof/latency", false, false, kGet, "seconds,format,sort,top",
     kWithSeconds, &Latency, "../hookprof/latency",
     "Latency per function in timing mode: calls, total, self, min, p50, p90, p99, max; "
     "seconds=N for a window, format=json, sort=<column>, top=N.",
     nullptr, nullptr},
    // The directories without their slash: relative redirects keep the context path.
    {"pprof", "/debug/pprof", false, false, Methods::kAny, nullptr, kNever, &PprofDirectory,
     nullptr, nullptr, nullptr, nullptr},
    {"charts", "/debug/charts", false, false, Methods::kAny, nullptr, kNever, &ChartsDirectory,
     nullptr, nullptr, nullptr, nullptr},
};

}  // namespace

const Route* Routes(size_t* n) {
  *n = sizeof(kRoutes) / sizeof(kRoutes[0]);
  return kRoutes;
}

}  // namespace server
}  // namespace hookprof
