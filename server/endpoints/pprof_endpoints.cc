// Go's net/http/pprof profiles: the CPU profile, heap and allocs, mutex and block, goroutine
// (threads) and threadcreate, cmdline and the symbol protocol. Each parses its parameters,
// opens its window through runtime/windows/windows.h and encodes; legacy clients (WantsLegacy) get
// gperftools' formats.
#include <stdio.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "instrument/samplers/contention.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/samplers/heap_sampler.h"
#include "runtime/pprof/contention_profile.h"
#include "runtime/pprof/heap_profile.h"
#include "runtime/pprof/legacy_cpu_profile.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/pprof/thread_profile.h"
#include "runtime/symbols/symbolizer.h"
#include "runtime/windows/windows.h"
#include "server/endpoints/endpoint.h"

namespace hookprof {
namespace server {
namespace {

Response Legacy(std::string body) {
  Response r;
  r.body = std::move(body);
  r.headers.emplace_back("X-Hookprof-Format", "legacy");
  return r;
}

Response Text(std::string body) {
  Response r;
  r.body = std::move(body);
  return r;
}

// Go's named profiles: debug, seconds, and which format the client reads.
struct NamedParams {
  int debug = 0;
  int64_t seconds = 0;
  bool legacy = false;
};

bool ParseNamed(const Call& c, NamedParams* p, Response* error) {
  return NamedProfileParams(c, &p->debug, &p->seconds, error) && WantsLegacy(c, &p->legacy, error);
}

// The profile.proto answer; a ?seconds=N delta says so in its duration and file name.
Response Encoded(runtime::ProfileBuilder* builder, int64_t seconds, const std::string& name) {
  if (seconds > 0) builder->profile().set_duration_nanos(seconds * 1000000000);
  return Octet(builder->Finish(), seconds > 0 ? name + "-delta" : name);
}

}  // namespace

Response Profile(const Call& c) {
  bool legacy;
  Response error;
  int64_t seconds = 30;  // Go's default.
  if (!WantsLegacy(c, &legacy, &error) || !SecondsParam(c, &seconds, &error)) return error;
  runtime::CpuWindow window;
  if (!runtime::CpuWindow::Over(seconds, c.env.wait, &window)) return Interrupted();
  if (legacy) {
    Response r =
        Octet(runtime::EncodeLegacyCpuProfile(window.delta, instrument::CpuSamplingPeriodNanos()),
              "profile");
    r.headers.emplace_back("X-Hookprof-Format", "legacy");
    return r;
  }
  runtime::ProfileBuilder builder(runtime::Symbolizer::Current());
  window.Build(&builder);
  Response r = Octet(builder.Finish(), "profile");
  r.headers.emplace_back("X-Hookprof-Format", "proto");
  return r;
}

// heap (default inuse_space) and allocs (default alloc_space): the sampled allocations.
Response HeapProfile(const Call& c) {
  NamedParams p;
  Response error;
  if (!ParseNamed(c, &p, &error)) return error;
  auto gc = c.url.query.find("gc");
  if (gc != c.url.query.end() && gc->second != "0" && gc->second != "1") {
    return ErrorResponse(400, "invalid value for \"gc\" - must be 0 or 1");
  }
  // gc=1 is accepted for Go's clients; there is no collector to run first.
  std::vector<instrument::HeapBucket> buckets;
  if (!runtime::TableOverWindow(p.seconds, c.env.wait, &instrument::HeapBuckets,
                                &runtime::HeapDelta, &buckets)) {
    return Interrupted();
  }
  auto symbolizer = runtime::Symbolizer::Current();
  const int64_t rate = instrument::HeapSampleRate();
  if (p.debug != 0 || p.legacy) {
    const std::string text = runtime::HeapText(buckets, rate, *symbolizer);
    return p.debug != 0 ? Text(text) : Legacy(text);
  }
  runtime::ProfileBuilder builder(symbolizer);
  runtime::BuildHeapProfile(buckets, rate, c.name == "heap" ? "inuse_space" : "alloc_space",
                            &builder);
  return Encoded(&builder, p.seconds, c.name);
}

// mutex (also as contention) and block: time spent waiting, from the contention tables.
// Legacy clients get gperftools' contention text, which is also what debug=1 serves.
Response ContentionProfile(const Call& c) {
  NamedParams p;
  Response error;
  if (!ParseNamed(c, &p, &error)) return error;
  const std::string name = c.name == "block" ? "block" : "mutex";
  const instrument::Contention which =
      name == "mutex" ? instrument::Contention::kMutex : instrument::Contention::kBlock;
  std::vector<instrument::ContentionBucket> buckets;
  if (!runtime::TableOverWindow(
          p.seconds, c.env.wait, [which] { return instrument::ContentionBuckets(which); },
          &runtime::ContentionDelta, &buckets)) {
    return Interrupted();
  }
  auto symbolizer = runtime::Symbolizer::Current();
  if (p.debug != 0 || p.legacy) {
    // gperftools' pprof recognises "--- contention" for both; Go writes "--- mutex" for mutex.
    const std::string text = runtime::ContentionText(
        which == instrument::Contention::kMutex && p.debug != 0 ? "mutex" : "contention", buckets,
        *symbolizer);
    return p.debug != 0 ? Text(text) : Legacy(text);
  }
  runtime::ProfileBuilder builder(symbolizer);
  runtime::BuildContentionProfile(buckets, which, &builder);
  return Encoded(&builder, p.seconds, name);
}

// goroutine (threads) and threadcreate: counts of stacks, as profile.proto or Go's texts, or
// as a delta over ?seconds=N (stacks present at the end minus those present at the start).
Response StackCountProfile(const Call& c) {
  int debug;
  int64_t seconds;
  Response error;
  if (!NamedProfileParams(c, &debug, &seconds, &error)) return error;
  const bool threads = c.name != "threadcreate";
  auto collect = [threads] {
    return threads ? runtime::LiveThreadStacks() : runtime::CreatorStacks();
  };
  std::vector<runtime::ThreadStack> stacks;
  if (!runtime::TableOverWindow(seconds, c.env.wait, collect, &runtime::StackDelta, &stacks)) {
    return Interrupted();
  }
  const std::string type = threads ? "goroutine" : "threadcreate";
  auto symbolizer = runtime::Symbolizer::Current();
  if (debug == 2 && threads) return Text(runtime::ThreadDump(stacks, *symbolizer));
  if (debug != 0) return Text(runtime::StackCountText(stacks, type, *symbolizer));
  runtime::ProfileBuilder builder(symbolizer);
  runtime::BuildStackCountProfile(stacks, type, &builder);
  return Encoded(&builder, seconds, c.name);
}

Response Cmdline(const Call&) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string args = ss.str();
  if (!args.empty() && args.back() == '\0') args.pop_back();  // Go joins with NUL, no trailer.
  return Text(std::move(args));
}

Response Symbol(const Call& c) {
  auto symbolizer = runtime::Symbolizer::Current();
  const std::string& input = c.req.method == "POST" ? c.req.body : c.url.raw_query;
  if (input.empty()) {
    // Clients only check that the number is positive.
    return Text("num_symbols: " + std::to_string(symbolizer->num_symbols() > 0 ? 1 : 0) + "\n");
  }
  std::vector<uint64_t> addresses;
  if (!runtime::ParseAddressList(input, &addresses)) {
    return ErrorResponse(400, "malformed address list: want hexadecimal addresses joined by '+'");
  }
  std::string body;
  char buf[40];
  for (uint64_t a : addresses) {
    if (const runtime::Symbol* s = symbolizer->FindSymbol(a)) {
      snprintf(buf, sizeof(buf), "%#llx ", static_cast<unsigned long long>(a));
      body += buf + s->name + "\n";
    }
  }
  return Text(std::move(body));
}

}  // namespace server
}  // namespace hookprof
