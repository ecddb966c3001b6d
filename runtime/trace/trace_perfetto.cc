// Perfetto's trace format: a stream of TracePacket fields. A process track, one thread track
// per thread (its own packet sequence, so event names are interned per sequence), and
// TYPE_SLICE_BEGIN/END and TYPE_INSTANT track events. Field numbers from Perfetto's
// protos/perfetto/trace/ (trace_packet.proto, track_event/track_event.proto,
// track_event/track_descriptor.proto, interned_data/interned_data.proto).
#include <unordered_set>

#include "runtime/core/proto_wire.h"
#include "runtime/trace/trace_writer.h"

namespace hookprof {
namespace runtime {
namespace {

using wire::Len;
using wire::Uint;

enum : int {
  kTracePacket = 1,
  kPacketTimestamp = 8,
  kPacketSequenceId = 10,
  kPacketTrackEvent = 11,
  kPacketInternedData = 12,
  kPacketSequenceFlags = 13,
  kPacketTrackDescriptor = 60,
  kTrackUuid = 1,
  kTrackName = 2,
  kTrackProcess = 3,
  kTrackThread = 4,
  kTrackParentUuid = 5,
  kProcessPid = 1,
  kThreadPid = 1,
  kThreadTid = 2,
  kThreadName = 5,
  kEventDebugAnnotations = 4,
  kAnnotationStringValue = 6,
  kAnnotationName = 10,
  kEventType = 9,
  kEventNameIid = 10,
  kEventTrackUuid = 11,
  kEventName = 23,
  kInternedEventNames = 2,
  kEventNameEntryIid = 1,
  kEventNameEntryName = 2,
};
enum : uint64_t { kSliceBegin = 1, kSliceEnd = 2, kInstant = 3 };
enum : uint64_t { kSeqIncrementalStateCleared = 1, kSeqNeedsIncrementalState = 2 };

class PerfettoWriter : public TraceWriter {
 public:
  PerfettoWriter(const TraceSink& sink, TraceStats* stats) : TraceWriter(sink, stats) {}

  void Begin() override {
    std::string track, proc, packet;
    Uint(&proc, kProcessPid, pid_);
    Uint(&track, kTrackUuid, ProcessUuid());
    Len(&track, kTrackProcess, proc);
    Len(&packet, kPacketTrackDescriptor, track);
    Packet(packet);
  }

  void End() override {}

  void Thread(int tid, int index, const std::string& name) override {
    seq_ = static_cast<uint32_t>(index);
    first_on_sequence_ = true;
    interned_.clear();
    track_ = ProcessUuid() + seq_;
    std::string thread, track, packet;
    Uint(&thread, kThreadPid, pid_);
    Uint(&thread, kThreadTid, tid);
    Len(&thread, kThreadName, name);
    Uint(&track, kTrackUuid, track_);
    Uint(&track, kTrackParentUuid, ProcessUuid());
    Len(&track, kTrackThread, thread);
    Len(&packet, kPacketTrackDescriptor, track);
    Packet(packet);
  }

  void SliceBegin(int64_t ns, uint32_t name_id, const std::string& name,
                  const Labels* labels) override {
    event_.clear();
    interned_scratch_.clear();
    for (size_t i = 0; labels != nullptr && i < labels->size(); ++i) {
      std::string annotation;
      Len(&annotation, kAnnotationName, (*labels)[i].first);
      Len(&annotation, kAnnotationStringValue, (*labels)[i].second);
      Len(&event_, kEventDebugAnnotations, annotation);
    }
    Uint(&event_, kEventType, kSliceBegin);
    Uint(&event_, kEventTrackUuid, track_);
    Uint(&event_, kEventNameIid, name_id);
    if (interned_.insert(name_id).second) {
      std::string entry;
      Uint(&entry, kEventNameEntryIid, name_id);
      Len(&entry, kEventNameEntryName, name);
      Len(&interned_scratch_, kInternedEventNames, entry);
    }
    EventPacket(ns, event_, interned_scratch_);
  }

  void SliceEnd(int64_t ns) override {
    event_.clear();
    interned_scratch_.clear();
    Uint(&event_, kEventType, kSliceEnd);
    Uint(&event_, kEventTrackUuid, track_);
    EventPacket(ns, event_, interned_scratch_);
  }

  void Instant(int64_t ns, const std::string& name) override {
    std::string event;
    Uint(&event, kEventType, kInstant);
    Uint(&event, kEventTrackUuid, track_);
    Len(&event, kEventName, name);
    EventPacket(ns, event, "");
  }

  void ProcessInstant(int64_t ns, const std::string& name) override {
    std::string event, packet;
    Uint(&event, kEventType, kInstant);
    Uint(&event, kEventTrackUuid, ProcessUuid());
    Len(&event, kEventName, name);
    Uint(&packet, kPacketTimestamp, static_cast<uint64_t>(ns));
    Uint(&packet, kPacketSequenceId, 1u << 20);
    Len(&packet, kPacketTrackEvent, event);
    Packet(packet);
  }

 private:
  uint64_t ProcessUuid() const { return uint64_t{static_cast<uint32_t>(pid_)} << 20; }

  void EventPacket(int64_t ns, const std::string& event, const std::string& interned) {
    packet_.clear();
    Uint(&packet_, kPacketTimestamp, static_cast<uint64_t>(ns));
    Uint(&packet_, kPacketSequenceId, seq_);
    Uint(&packet_, kPacketSequenceFlags,
         first_on_sequence_ ? kSeqIncrementalStateCleared : kSeqNeedsIncrementalState);
    first_on_sequence_ = false;
    if (!interned.empty()) Len(&packet_, kPacketInternedData, interned);
    Len(&packet_, kPacketTrackEvent, event);
    Packet(packet_);
  }

  // Frames one TracePacket straight into the output buffer (scratch strings are reused: no
  // allocation per event).
  void Packet(const std::string& packet) {
    Len(buffer(), kTracePacket, packet);
    MaybeFlush();
  }

  uint32_t seq_ = 0;
  uint64_t track_ = 0;
  bool first_on_sequence_ = true;
  std::unordered_set<uint32_t> interned_;
  std::string event_, interned_scratch_, packet_;
};

}  // namespace

std::unique_ptr<TraceWriter> NewPerfettoWriter(const TraceSink& sink, TraceStats* stats) {
  return std::make_unique<PerfettoWriter>(sink, stats);
}

}  // namespace runtime
}  // namespace hookprof
