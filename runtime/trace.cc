#include "runtime/trace.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

namespace hookprof {
namespace runtime {
namespace {

constexpr uint64_t kLow42 = (uint64_t{1} << 42) - 1;

uint64_t g_epoch_tsc = 0;
int64_t g_epoch_mono = 0;

int64_t MonoNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// --- protobuf wire format, written by hand so that packets stream out one by one ---
void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void Key(std::string* out, int field, int wire_type) { Varint(out, (uint64_t(field) << 3) | wire_type); }
void Uint(std::string* out, int field, uint64_t v) {
  Key(out, field, 0);
  Varint(out, v);
}
void Len(std::string* out, int field, const std::string& bytes) {
  Key(out, field, 2);
  Varint(out, bytes.size());
  out->append(bytes);
}

// Perfetto field numbers (protos/perfetto/trace/...; see shared/protocols.md).
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

struct Event {
  uint64_t tsc;
  uint32_t node;
  bool exit;
};

struct Slice {
  uint64_t begin, end;
  uint32_t node;
};

// Copies the events written to `s`'s ring since `from` and rebuilds their full TSC values
// backwards from a TSC read after the ring's head. Counts what the ring had overwritten before
// it could be copied; events after `tsc_end` (the window's end) are left out.
std::vector<Event> ReadRing(const instrument::ThreadState* s, uint64_t from, uint64_t tsc_end,
                            uint64_t* lost) {
  std::vector<Event> out;
  const uint64_t* ring = __atomic_load_n(&s->ring, __ATOMIC_ACQUIRE);
  if (ring == nullptr) return out;
  const uint64_t cap = s->ring_mask + 1;
  const uint64_t head = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
  // Every event below `head` was stamped before this TSC read (lfence: not read early).
  __builtin_ia32_lfence();
  const uint64_t tsc_now = __builtin_ia32_rdtsc();
  uint64_t begin = std::max(from, head > cap ? head - cap : 0);
  *lost += begin - std::min(begin, from);
  std::vector<uint64_t> raw(head > begin ? head - begin : 0);
  for (uint64_t i = begin; i < head; ++i) {
    raw[i - begin] = __atomic_load_n(&ring[i & s->ring_mask], __ATOMIC_RELAXED);
  }
  // The writer may have lapped the copy: anything it could have overwritten meanwhile is lost.
  const uint64_t head_after = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
  const uint64_t safe = head_after > cap ? head_after - cap : 0;
  size_t skip = 0;
  if (safe > begin) {
    skip = std::min<uint64_t>(safe - begin, raw.size());
    *lost += skip;
  }
  out.reserve(raw.size() - skip);
  uint64_t prev = tsc_now;
  for (size_t i = raw.size(); i-- > skip;) {
    const uint64_t e = raw[i];
    const uint32_t node = (e >> instrument::kEventNodeShift) & instrument::kEventNodeMask;
    if (node == 0) continue;  // Sync event: backwards reconstruction does not need it.
    const uint64_t low = e >> instrument::kEventTscShift;
    const uint64_t full = prev - ((prev - low) & kLow42);
    prev = full;
    if (full > tsc_end) continue;  // After the window: the thread ran on while we read.
    out.push_back({full, node, (e & instrument::kEventExit) != 0});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// Pairs enters and exits into properly nested slices, in order of begin. Slices whose enter is
// before the window begin at `window_begin`; slices still open end at `window_end`.
std::vector<Slice> PairSlices(const std::vector<Event>& events, uint64_t window_begin,
                              uint64_t window_end) {
  std::vector<Slice> slices;
  std::vector<Slice> before;  // Began before the window, innermost first.
  std::vector<size_t> open;   // Indexes into slices.
  for (const Event& e : events) {
    if (!e.exit) {
      open.push_back(slices.size());
      slices.push_back({e.tsc, 0, e.node});
      continue;
    }
    // Close what is open down to the matching enter (frames above it lost their exits).
    size_t k = open.size();
    while (k > 0 && slices[open[k - 1]].node != e.node) --k;
    if (k == 0) {
      for (size_t i : open) slices[i].end = e.tsc;
      open.clear();
      before.push_back({window_begin, e.tsc, e.node});
      continue;
    }
    while (open.size() >= k) {
      slices[open.back()].end = e.tsc;
      open.pop_back();
    }
  }
  for (size_t i : open) slices[i].end = window_end;
  std::vector<Slice> all(before.rbegin(), before.rend());
  all.insert(all.end(), slices.begin(), slices.end());
  return all;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string ThreadName(const instrument::ThreadState* s) {
  if (__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE)) {
    std::ifstream in("/proc/self/task/" + std::to_string(s->tid) + "/comm");
    std::string name;
    if (std::getline(in, name) && !name.empty()) return name;
  }
  std::string name(s->name, strnlen(s->name, sizeof(s->name)));
  return name.empty() ? std::to_string(s->tid) : name;
}

// Writes one thread's slices; the encoder state that spans threads lives in Writer.
class Writer {
 public:
  Writer(TraceFormat format, const std::function<void(const std::string&)>& sink,
         TraceStats* stats)
      : format_(format), sink_(sink), stats_(stats), pid_(getpid()) {}

  void Begin() {
    if (format_ == TraceFormat::kJson) {
      Emit("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
      return;
    }
    std::string track, proc, packet;
    Uint(&proc, kProcessPid, pid_);
    Uint(&track, kTrackUuid, ProcessUuid());
    Len(&track, kTrackProcess, proc);
    Len(&packet, kPacketTrackDescriptor, track);
    Packet(packet);
  }

  void End() {
    if (format_ == TraceFormat::kJson) Emit("\n]}\n");
  }

  void Thread(const instrument::ThreadState* s, int index, const std::string& name) {
    seq_ = static_cast<uint32_t>(index) + 1;
    first_on_sequence_ = true;
    interned_.clear();
    track_ = ProcessUuid() + seq_;
    tid_ = s->tid;
    if (format_ == TraceFormat::kJson) {
      Emit(std::string(json_first_ ? "\n" : ",\n") +
           "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(pid_) +
           ",\"tid\":" + std::to_string(tid_) + ",\"args\":{\"name\":\"" + JsonEscape(name) +
           "\"}}");
      json_first_ = false;
      return;
    }
    std::string thread, track, packet;
    Uint(&thread, kThreadPid, pid_);
    Uint(&thread, kThreadTid, s->tid);
    Len(&thread, kThreadName, name);
    Uint(&track, kTrackUuid, track_);
    Uint(&track, kTrackParentUuid, ProcessUuid());
    Len(&track, kTrackThread, thread);
    Len(&packet, kPacketTrackDescriptor, track);
    Packet(packet);
  }

  void SliceBegin(int64_t ns, uint32_t name_id, const std::string& name) {
    if (format_ == TraceFormat::kJson) {
      Emit(",\n{\"ph\":\"B\",\"name\":\"" + JsonEscape(name) + "\",\"ts\":" + Micros(ns) +
           ",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(tid_) + "}");
      return;
    }
    std::string event, interned, packet;
    Uint(&event, kEventType, kSliceBegin);
    Uint(&event, kEventTrackUuid, track_);
    Uint(&event, kEventNameIid, name_id);
    if (interned_.insert(name_id).second) {
      std::string entry;
      Uint(&entry, kEventNameEntryIid, name_id);
      Len(&entry, kEventNameEntryName, name);
      Len(&interned, kInternedEventNames, entry);
    }
    EventPacket(ns, event, interned);
  }

  void SliceEnd(int64_t ns) {
    if (format_ == TraceFormat::kJson) {
      Emit(",\n{\"ph\":\"E\",\"ts\":" + Micros(ns) + ",\"pid\":" + std::to_string(pid_) +
           ",\"tid\":" + std::to_string(tid_) + "}");
      return;
    }
    std::string event;
    Uint(&event, kEventType, kSliceEnd);
    Uint(&event, kEventTrackUuid, track_);
    EventPacket(ns, event, "");
  }

  void Instant(int64_t ns, const std::string& name) {
    if (format_ == TraceFormat::kJson) {
      Emit(",\n{\"ph\":\"i\",\"s\":\"t\",\"name\":\"" + JsonEscape(name) + "\",\"ts\":" +
           Micros(ns) + ",\"pid\":" + std::to_string(pid_) + ",\"tid\":" +
           std::to_string(tid_) + "}");
      return;
    }
    std::string event;
    Uint(&event, kEventType, kInstant);
    Uint(&event, kEventTrackUuid, track_);
    Len(&event, kEventName, name);
    EventPacket(ns, event, "");
  }

 private:
  uint64_t ProcessUuid() const { return uint64_t{static_cast<uint32_t>(pid_)} << 20; }

  static std::string Micros(int64_t ns) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(ns / 1000),
             static_cast<long long>(ns % 1000));
    return buf;
  }

  void EventPacket(int64_t ns, const std::string& event, const std::string& interned) {
    std::string packet;
    Uint(&packet, kPacketTimestamp, static_cast<uint64_t>(ns));
    Uint(&packet, kPacketSequenceId, seq_);
    Uint(&packet, kPacketSequenceFlags,
         first_on_sequence_ ? kSeqIncrementalStateCleared : kSeqNeedsIncrementalState);
    first_on_sequence_ = false;
    if (!interned.empty()) Len(&packet, kPacketInternedData, interned);
    Len(&packet, kPacketTrackEvent, event);
    Packet(packet);
  }

  void Packet(const std::string& packet) {
    std::string framed;
    Len(&framed, kTracePacket, packet);
    Emit(framed);
  }

  void Emit(const std::string& bytes) {
    buffer_ += bytes;
    if (buffer_.size() >= 64 * 1024) Flush();
  }

 public:
  void Flush() {
    if (buffer_.empty()) return;
    stats_->bytes += buffer_.size();
    sink_(buffer_);
    buffer_.clear();
  }

 private:
  TraceFormat format_;
  const std::function<void(const std::string&)>& sink_;
  TraceStats* stats_;
  int pid_;
  int tid_ = 0;
  uint32_t seq_ = 0;
  uint64_t track_ = 0;
  bool first_on_sequence_ = true;
  bool json_first_ = true;
  std::unordered_set<uint32_t> interned_;
  std::string buffer_;
};

}  // namespace

bool ValidateTraceFilter(const TraceFilter& filter, std::string* reason) {
  for (const std::string* re : {&filter.include, &filter.exclude}) {
    if (re->empty()) continue;
    try {
      std::regex r(*re);
    } catch (const std::regex_error& e) {
      *reason = "invalid regular expression \"" + *re + "\": " + e.what();
      return false;
    }
  }
  if (filter.min_ns < 0 || filter.max_depth < 0) {
    *reason = "min_ns and depth must not be negative";
    return false;
  }
  return true;
}

void NoteTraceEpoch() {
  g_epoch_mono = MonoNanos();
  g_epoch_tsc = __builtin_ia32_rdtsc();
}

TraceStart TraceStart::Now() {
  TraceStart t;
  t.mono_ns = MonoNanos();
  t.tsc = __builtin_ia32_rdtsc();
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    t.heads.emplace_back(s, __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE));
  }
  return t;
}

TraceStart TraceStart::Beginning() {
  TraceStart t;
  if (g_epoch_tsc == 0) NoteTraceEpoch();
  t.mono_ns = g_epoch_mono;
  t.tsc = g_epoch_tsc;
  return t;  // No heads: every thread from its first event.
}

TraceStats WriteTrace(const TraceStart& start, const TraceFilter& filter, TraceFormat format,
                      const std::function<void(const std::string&)>& sink) {
  TraceStats stats;
  const int64_t mono_end = MonoNanos();
  const uint64_t tsc_end = __builtin_ia32_rdtsc();
  const double ns_per_tick =
      tsc_end > start.tsc ? double(mono_end - start.mono_ns) / double(tsc_end - start.tsc) : 0;
  auto to_ns = [&](uint64_t tsc) {
    return mono_end - static_cast<int64_t>(double(tsc_end - std::min(tsc, tsc_end)) * ns_per_tick);
  };
  std::unordered_map<const instrument::ThreadState*, uint64_t> from;
  for (const auto& h : start.heads) from[h.first] = h.second;
  std::unique_ptr<std::regex> include, exclude;
  if (!filter.include.empty()) include = std::make_unique<std::regex>(filter.include);
  if (!filter.exclude.empty()) exclude = std::make_unique<std::regex>(filter.exclude);
  auto symbolizer = Symbolizer::Current();

  Writer w(format, sink, &stats);
  w.Begin();
  int index = 0;
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr;
       s = s->next, ++index) {
    if (__atomic_load_n(&s->internal, __ATOMIC_RELAXED)) continue;
    uint64_t lost = 0;
    auto it = from.find(s);
    const uint64_t first = it != from.end() ? it->second : 0;
    std::vector<Event> events = ReadRing(s, first, tsc_end, &lost);
    if (events.empty() && lost == 0) continue;
    stats.threads++;
    stats.events += events.size();
    stats.lost_events += lost;
    w.Thread(s, index, ThreadName(s));
    const uint64_t window_begin = events.empty() ? start.tsc : std::min(start.tsc, events[0].tsc);
    std::vector<Slice> slices = PairSlices(events, std::max(window_begin, start.tsc), tsc_end);
    events = std::vector<Event>();  // Freed before writing: held once at a time.
    if (lost != 0) {
      w.Instant(to_ns(slices.empty() ? start.tsc : slices.front().begin),
                "hookprof: " + std::to_string(lost) +
                    " events lost (ring overwritten before it was read)");
    }
    // Names and filter decisions, once per node.
    std::unordered_map<uint32_t, std::pair<bool, std::string>> names;
    auto name_of = [&](uint32_t node) -> const std::pair<bool, std::string>& {
      auto n = names.find(node);
      if (n != names.end()) return n->second;
      std::string name;
      if (node == instrument::kOverflowNode) {
        name = "[hookprof: call paths dropped]";
      } else {
        const uintptr_t fn = s->nodes[node].fn;
        const Symbol* sym = symbolizer->FindSymbol(fn);
        char buf[32];
        snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(fn));
        name = sym != nullptr ? sym->name : buf;
      }
      const bool keep = (!include || std::regex_search(name, *include)) &&
                        (!exclude || !std::regex_search(name, *exclude));
      return names.emplace(node, std::make_pair(keep, std::move(name))).first->second;
    };
    // Emit in time order: before a slice begins, end every open slice that ended by then.
    struct Open {
      uint64_t end;
      bool emitted;
    };
    std::vector<Open> open;
    for (const Slice& sl : slices) {
      while (!open.empty() && open.back().end <= sl.begin) {
        if (open.back().emitted) w.SliceEnd(to_ns(open.back().end));
        open.pop_back();
      }
      const int depth = static_cast<int>(open.size()) + 1;
      const auto& nm = name_of(sl.node);
      const bool emit = nm.first && (filter.max_depth == 0 || depth <= filter.max_depth) &&
                        to_ns(sl.end) - to_ns(sl.begin) >= filter.min_ns;
      if (emit) {
        w.SliceBegin(to_ns(sl.begin), sl.node, nm.second);
        stats.slices++;
      }
      open.push_back({sl.end, emit});
    }
    while (!open.empty()) {
      if (open.back().emitted) w.SliceEnd(to_ns(open.back().end));
      open.pop_back();
    }
  }
  w.End();
  w.Flush();
  return stats;
}

}  // namespace runtime
}  // namespace hookprof
