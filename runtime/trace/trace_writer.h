// Trace writers: the collector (trace.h) tells one writer what happened, thread by thread, and
// the writer encodes it as a Perfetto trace (protobuf TracePackets) or as Chrome's Trace Event
// JSON. Output goes to a sink in pieces of about 64 KiB, so a trace is never held whole.
//
// Call order: Begin, then per thread Thread followed by its events in time order (slices
// properly nested), optionally ProcessInstant, then End and Flush.
//
// Thread-safety: one writer per trace, used by one thread.
#ifndef HOOKPROF_RUNTIME_TRACE_TRACE_WRITER_H_
#define HOOKPROF_RUNTIME_TRACE_TRACE_WRITER_H_

#include <stdint.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hookprof {
namespace runtime {

enum class TraceFormat { kPerfetto, kJson };

struct TraceStats {
  uint64_t slices = 0;
  uint64_t events = 0;       // Ring events read.
  uint64_t lost_events = 0;  // Overwritten before they could be read.
  uint64_t threads = 0;
  uint64_t bytes = 0;
  uint64_t dropped_slices = 0;  // Over TraceFilter::max_slices.
};

// Takes one piece of output; false if it cannot take more (a reader gone): writing stops.
using TraceSink = std::function<bool(const std::string&)>;

class TraceWriter {
 public:
  // `stats` must outlive the writer (the sink is copied); `stats->bytes` counts what reached it.
  static std::unique_ptr<TraceWriter> New(TraceFormat format, const TraceSink& sink,
                                          TraceStats* stats);
  virtual ~TraceWriter() = default;

  virtual void Begin() = 0;
  virtual void End() = 0;
  // A new thread; its events follow. `index` numbers the threads of this trace from 1.
  virtual void Thread(int tid, int index, const std::string& name) = 0;
  // `name_id` identifies `name` within the current thread (a writer may intern by it). `labels`
  // (instrument/labels.h), if not null, become the slice's arguments.
  using Labels = std::vector<std::pair<std::string, std::string>>;
  virtual void SliceBegin(int64_t ns, uint32_t name_id, const std::string& name,
                          const Labels* labels) = 0;
  virtual void SliceEnd(int64_t ns) = 0;
  // An instant on the current thread's track.
  virtual void Instant(int64_t ns, const std::string& name) = 0;
  // An instant on the process track, for what concerns no one thread.
  virtual void ProcessInstant(int64_t ns, const std::string& name) = 0;

  // Hands what is buffered to the sink.
  void Flush();
  // Whether the sink refused a piece (nothing more reaches it).
  bool failed() const { return failed_; }

 protected:
  TraceWriter(const TraceSink& sink, TraceStats* stats);
  // Appends to the output, flushing every 64 KiB.
  void Emit(const std::string& bytes);
  std::string* buffer() { return &buffer_; }
  void MaybeFlush();
  const int pid_;

 private:
  const TraceSink sink_;  // A copy: a temporary sink would otherwise dangle.
  TraceStats* stats_;
  std::string buffer_;
  bool failed_ = false;
};

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_TRACE_TRACE_WRITER_H_
