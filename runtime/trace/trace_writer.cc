#include "runtime/trace/trace_writer.h"

#include <unistd.h>

namespace hookprof {
namespace runtime {

std::unique_ptr<TraceWriter> NewPerfettoWriter(const TraceSink& sink, TraceStats* stats);
std::unique_ptr<TraceWriter> NewJsonWriter(const TraceSink& sink, TraceStats* stats);

std::unique_ptr<TraceWriter> TraceWriter::New(TraceFormat format, const TraceSink& sink,
                                              TraceStats* stats) {
  return format == TraceFormat::kJson ? NewJsonWriter(sink, stats) : NewPerfettoWriter(sink, stats);
}

TraceWriter::TraceWriter(const TraceSink& sink, TraceStats* stats)
    : pid_(getpid()), sink_(sink), stats_(stats) {}

void TraceWriter::Emit(const std::string& bytes) {
  buffer_ += bytes;
  MaybeFlush();
}

void TraceWriter::MaybeFlush() {
  if (buffer_.size() >= 64 * 1024) Flush();
}

void TraceWriter::Flush() {
  if (buffer_.empty()) return;
  if (!failed_) {
    stats_->bytes += buffer_.size();
    failed_ = !sink_(buffer_);
  }
  buffer_.clear();
}

}  // namespace runtime
}  // namespace hookprof
