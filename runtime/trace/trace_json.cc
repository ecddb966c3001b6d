// Chrome's Trace Event format (JSON): "B"/"E" events per slice, "i" instants, an "M" event
// naming each thread; timestamps in microseconds with nanosecond decimals.
//
// The format has no name table (Perfetto's interns names), so a long name (template code has
// names of tens of kilobytes) would be repeated in every event: an event carries a name cut to
// kJsonNameBytes with a hash that keeps distinct names apart, and the first slice of each such
// name carries the whole name once, in args.full_name.
#include <stdio.h>

#include <functional>
#include <unordered_set>

#include "runtime/core/json.h"
#include "runtime/trace/trace_writer.h"

namespace hookprof {
namespace runtime {
namespace {

constexpr size_t kJsonNameBytes = 256;

// The first bytes of `name` (not splitting a UTF-8 sequence) and a hash of all of it.
std::string ShortName(const std::string& name) {
  size_t cut = kJsonNameBytes - 16;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xc0) == 0x80) --cut;
  char hash[16];
  snprintf(hash, sizeof(hash), " [#%08zx]", std::hash<std::string>()(name) & 0xffffffffu);
  return name.substr(0, cut) + "..." + hash;
}

std::string Micros(int64_t ns) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(ns / 1000),
           static_cast<long long>(ns % 1000));
  return buf;
}

class JsonWriter : public TraceWriter {
 public:
  JsonWriter(const TraceSink& sink, TraceStats* stats) : TraceWriter(sink, stats) {}

  void Begin() override { Emit("{\"displayTimeUnit\":\"ns\",\"traceEvents\":["); }
  void End() override { Emit("\n]}\n"); }

  void Thread(int tid, int index, const std::string& name) override {
    tid_ = tid;
    ids_ = ",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(tid_) + "}";
    Emit(std::string(first_ ? "\n" : ",\n") +
         "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(pid_) +
         ",\"tid\":" + std::to_string(tid_) + ",\"args\":{\"name\":\"" + JsonEscape(name) + "\"}}");
    first_ = false;
  }

  void SliceBegin(int64_t ns, uint32_t, const std::string& name, const Labels* labels) override {
    std::string args;  // Members of "args": the full name once, then the labels.
    const bool long_name = name.size() > kJsonNameBytes;
    if (long_name && long_names_.insert(name).second) {
      args = "\"full_name\":\"" + JsonEscape(name) + "\"";
    }
    for (size_t i = 0; labels != nullptr && i < labels->size(); ++i) {
      args += (args.empty() ? "\"" : ",\"") + JsonEscape((*labels)[i].first) + "\":\"" +
              JsonEscape((*labels)[i].second) + "\"";
    }
    Emit(",\n{\"ph\":\"B\",\"name\":\"" + JsonEscape(long_name ? ShortName(name) : name) +
         "\",\"ts\":" + Micros(ns) + (args.empty() ? "" : ",\"args\":{" + args + "}") + ids_);
  }

  void SliceEnd(int64_t ns) override { Emit(",\n{\"ph\":\"E\",\"ts\":" + Micros(ns) + ids_); }

  void Instant(int64_t ns, const std::string& name) override {
    Emit(",\n{\"ph\":\"i\",\"s\":\"t\",\"name\":\"" + JsonEscape(name) + "\",\"ts\":" + Micros(ns) +
         ids_);
  }

  void ProcessInstant(int64_t ns, const std::string& name) override {
    Emit(",\n{\"ph\":\"i\",\"s\":\"p\",\"name\":\"" + JsonEscape(name) + "\",\"ts\":" + Micros(ns) +
         ",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(pid_) + "}");
  }

 private:
  int tid_ = 0;
  bool first_ = true;
  std::string ids_;  // The pid and tid members that close every event of the current thread.
  std::unordered_set<std::string> long_names_;  // Written in full once already.
};

}  // namespace

std::unique_ptr<TraceWriter> NewJsonWriter(const TraceSink& sink, TraceStats* stats) {
  return std::make_unique<JsonWriter>(sink, stats);
}

}  // namespace runtime
}  // namespace hookprof
