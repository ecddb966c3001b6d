#include "runtime/trace.h"

#include "runtime/snapshot.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdint.h>

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
                            uint64_t* lost, uint64_t* next) {
  std::vector<Event> out;
  const uint64_t* ring = __atomic_load_n(&s->ring, __ATOMIC_ACQUIRE);
  if (ring == nullptr) return out;
  const uint64_t cap = s->ring_mask + 1;
  const uint64_t head = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
  *next = std::max(head, from);
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
    ids_ = ",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(tid_) + "}";
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
           ids_);
      return;
    }
    event_.clear();
    interned_scratch_.clear();
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

  void SliceEnd(int64_t ns) {
    if (format_ == TraceFormat::kJson) {
      Emit(",\n{\"ph\":\"E\",\"ts\":" + Micros(ns) + ids_);
      return;
    }
    event_.clear();
    interned_scratch_.clear();
    Uint(&event_, kEventType, kSliceEnd);
    Uint(&event_, kEventTrackUuid, track_);
    EventPacket(ns, event_, interned_scratch_);
  }

  // An instant on the process track, for what concerns no one thread.
  void ProcessInstant(int64_t ns, const std::string& name) {
    if (format_ == TraceFormat::kJson) {
      Emit(",\n{\"ph\":\"i\",\"s\":\"p\",\"name\":\"" + JsonEscape(name) + "\",\"ts\":" +
           Micros(ns) + ",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(pid_) +
           "}");
      return;
    }
    std::string event, packet;
    Uint(&event, kEventType, kInstant);
    Uint(&event, kEventTrackUuid, ProcessUuid());
    Len(&event, kEventName, name);
    Uint(&packet, kPacketTimestamp, static_cast<uint64_t>(ns));
    Uint(&packet, kPacketSequenceId, 1u << 20);
    Len(&packet, kPacketTrackEvent, event);
    Packet(packet);
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
    Len(&buffer_, kTracePacket, packet);
    if (buffer_.size() >= 64 * 1024) Flush();
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
  std::string ids_;  // JSON: the pid and tid members that close every event.
  std::string event_, interned_scratch_, packet_;
  std::string buffer_;
};

}  // namespace

namespace {

// Filters come from the network: matching uses libstdc++'s polynomial-time executor (no
// exponential backtracking on a hostile pattern), which has no back-references, and patterns
// are bounded before its parser sees them (it overflows on very long numbers).
constexpr auto kRegexFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
constexpr size_t kMaxRegexBytes = 256;

bool RegexAcceptable(const std::string& re, std::string* why) {
  if (re.size() > kMaxRegexBytes) {
    *why = "longer than " + std::to_string(kMaxRegexBytes) + " bytes";
    return false;
  }
  size_t digits = 0;
  for (size_t i = 0; i < re.size(); ++i) {
    digits = re[i] >= '0' && re[i] <= '9' ? digits + 1 : 0;
    if (digits > 4) {
      *why = "numbers are limited to 4 digits";
      return false;
    }
    if (re[i] == '\\' && i + 1 < re.size()) {
      if (re[i + 1] >= '1' && re[i + 1] <= '9') {
        *why = "back-references are not supported";
        return false;
      }
      ++i;  // An escaped character is never the start of anything else.
    }
  }
  return true;
}

}  // namespace

bool ValidateTraceFilter(const TraceFilter& filter, std::string* reason) {
  for (const std::string* re : {&filter.include, &filter.exclude}) {
    if (re->empty()) continue;
    std::string why;
    if (!RegexAcceptable(*re, &why)) {
      *reason = "invalid regular expression: " + why;
      return false;
    }
    try {
      std::regex r(*re, kRegexFlags);
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

// --- TraceCollector ---

struct TraceCollector::Thread {
  const instrument::ThreadState* state = nullptr;
  uint64_t position = 0;  // Next ring index to read.
  struct Open {
    uint64_t begin;
    uint32_t node;
  };
  std::vector<Open> open;
  std::vector<Slice> kept;
  uint64_t lost = 0;
  uint64_t events = 0;
  std::unordered_map<uint32_t, bool> keep_node;  // include/exclude decision per node
};

struct TraceCollector::Impl {
  TraceFilter filter;
  std::unique_ptr<std::regex> include, exclude;
  std::shared_ptr<const Symbolizer> symbolizer = Symbolizer::Current();
  uint64_t start_tsc = 0;
  int64_t start_mono = 0;
  uint64_t max_slices = 0;
  uint64_t dropped_slices = 0;
  uint64_t kept_slices = 0;
  std::unordered_map<const instrument::ThreadState*, uint64_t> start_positions;
  bool from_beginning = false;
  std::vector<std::unique_ptr<Thread>> threads;
  std::unordered_map<const instrument::ThreadState*, Thread*> by_state;

  std::string NameOf(const instrument::ThreadState* s, uint32_t node) const {
    if (node == instrument::kOverflowNode) return "[hookprof: call paths dropped]";
    const uintptr_t fn = s->nodes[node].fn;
    if (const Symbol* sym = symbolizer->FindSymbol(fn)) return sym->name;
    char buf[32];
    snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(fn));
    return buf;
  }

  bool Keep(Thread* t, uint32_t node) {
    if (!include && !exclude) return true;
    auto it = t->keep_node.find(node);
    if (it != t->keep_node.end()) return it->second;
    const std::string name = NameOf(t->state, node);
    const bool keep = (!include || std::regex_search(name, *include)) &&
                      (!exclude || !std::regex_search(name, *exclude));
    t->keep_node.emplace(node, keep);
    return keep;
  }

  // A slice closed: keep it if the filters and the memory budget allow.
  void Close(Thread* t, uint64_t begin, uint64_t end, uint32_t node, size_t depth,
             double ns_per_tick) {
    (void)depth;  // Depth is filtered when writing, where nesting among kept slices is known.
    if (filter.min_ns != 0 && double(end - begin) * ns_per_tick < double(filter.min_ns)) return;
    if (!Keep(t, node)) return;
    if (kept_slices >= max_slices) {
      ++dropped_slices;
      return;
    }
    ++kept_slices;
    t->kept.push_back({begin, end, node});
  }

  // Pairs new events into slices. Slices whose enter came before the window begin at
  // `window_begin`; frames whose exits were skipped (resynchronised) close at the next exit.
  void Pair(Thread* t, const std::vector<Event>& events, uint64_t window_begin,
            double ns_per_tick) {
    for (const Event& e : events) {
      if (!e.exit) {
        t->open.push_back({e.tsc, e.node});
        continue;
      }
      size_t k = t->open.size();
      while (k > 0 && t->open[k - 1].node != e.node) --k;
      if (k == 0) {
        // Entered before the window: everything open is inside it and ends here too.
        while (!t->open.empty()) {
          Close(t, t->open.back().begin, e.tsc, t->open.back().node, t->open.size() + 1,
                ns_per_tick);
          t->open.pop_back();
        }
        Close(t, window_begin, e.tsc, e.node, 1, ns_per_tick);
        continue;
      }
      while (t->open.size() >= k) {
        Close(t, t->open.back().begin, e.tsc, t->open.back().node, t->open.size(), ns_per_tick);
        t->open.pop_back();
      }
    }
  }
};

TraceCollector::TraceCollector(const TraceFilter& filter, bool from_beginning)
    : impl_(new Impl) {
  impl_->filter = filter;
  if (!filter.include.empty()) {
    impl_->include = std::make_unique<std::regex>(filter.include, kRegexFlags);
  }
  if (!filter.exclude.empty()) {
    impl_->exclude = std::make_unique<std::regex>(filter.exclude, kRegexFlags);
  }
  impl_->max_slices = filter.max_slices;
  impl_->from_beginning = from_beginning;
  if (from_beginning) {
    if (g_epoch_tsc == 0) NoteTraceEpoch();
    impl_->start_tsc = g_epoch_tsc;
    impl_->start_mono = g_epoch_mono;
  } else {
    impl_->start_mono = MonoNanos();
    impl_->start_tsc = __builtin_ia32_rdtsc();
    for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr;
         s = s->next) {
      impl_->start_positions[s] = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
    }
  }
}

TraceCollector::~TraceCollector() = default;

void TraceCollector::Poll() {
  Impl& im = *impl_;
  const uint64_t tsc_now = __builtin_ia32_rdtsc();
  const int64_t mono_now = MonoNanos();
  const double ns_per_tick = tsc_now > im.start_tsc && mono_now > im.start_mono
                                 ? double(mono_now - im.start_mono) / double(tsc_now - im.start_tsc)
                                 : 0.4;
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    if (__atomic_load_n(&s->internal, __ATOMIC_RELAXED)) continue;
    Thread* t;
    auto it = im.by_state.find(s);
    if (it == im.by_state.end()) {
      im.threads.push_back(std::make_unique<Thread>());
      t = im.threads.back().get();
      t->state = s;
      auto sp = im.start_positions.find(s);
      t->position = sp != im.start_positions.end() ? sp->second : 0;
      im.by_state[s] = t;
    } else {
      t = it->second;
    }
    if (im.kept_slices >= im.max_slices) {
      // Full: nothing more can be kept, so skip the work and count what is passed over.
      const uint64_t head = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
      if (head > t->position) {
        im.dropped_slices += (head - t->position) / 2;
        t->position = head;
      }
      continue;
    }
    uint64_t next = t->position;
    std::vector<Event> events = ReadRing(s, t->position, tsc_now, &t->lost, &next);
    t->position = next;
    t->events += events.size();
    im.Pair(t, events, im.start_tsc, ns_per_tick);
  }
}

TraceStats TraceCollector::Write(TraceFormat format,
                                 const std::function<void(const std::string&)>& sink) {
  Poll();
  Impl& im = *impl_;
  TraceStats stats;
  const int64_t mono_end = MonoNanos();
  const uint64_t tsc_end = __builtin_ia32_rdtsc();
  const double ns_per_tick = tsc_end > im.start_tsc
                                 ? double(mono_end - im.start_mono) / double(tsc_end - im.start_tsc)
                                 : 0;
  auto to_ns = [&](uint64_t tsc) {
    return mono_end - static_cast<int64_t>(double(tsc_end - std::min(tsc, tsc_end)) * ns_per_tick);
  };
  Writer w(format, sink, &stats);
  w.Begin();
  int index = 0;
  for (auto& tp : im.threads) {
    Thread* t = tp.get();
    ++index;
    // What is still open ends with the window.
    while (!t->open.empty()) {
      im.Close(t, t->open.back().begin, tsc_end, t->open.back().node, t->open.size(),
               ns_per_tick);
      t->open.pop_back();
    }
    stats.events += t->events;
    stats.lost_events += t->lost;
    if (t->kept.empty() && t->lost == 0) continue;
    stats.threads++;
    w.Thread(t->state, index, ThreadName(t->state));
    // Slices were kept as they closed (inner first): order them by begin, outer first.
    std::sort(t->kept.begin(), t->kept.end(), [](const Slice& a, const Slice& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
    });
    if (t->lost != 0) {
      w.Instant(to_ns(t->kept.empty() ? im.start_tsc : t->kept.front().begin),
                "hookprof: " + std::to_string(t->lost) +
                    " events lost (ring overwritten before it was read)");
    }
    std::unordered_map<uint32_t, std::string> names;
    struct OpenEnd {
      uint64_t end;
      bool written;
    };
    std::vector<OpenEnd> open_ends;
    const size_t max_depth = im.filter.max_depth > 0 ? im.filter.max_depth : SIZE_MAX;
    for (const Slice& sl : t->kept) {
      while (!open_ends.empty() && open_ends.back().end <= sl.begin) {
        if (open_ends.back().written) w.SliceEnd(to_ns(open_ends.back().end));
        open_ends.pop_back();
      }
      const bool write = open_ends.size() < max_depth;
      if (write) {
        auto n = names.find(sl.node);
        if (n == names.end()) n = names.emplace(sl.node, im.NameOf(t->state, sl.node)).first;
        w.SliceBegin(to_ns(sl.begin), sl.node, n->second);
        stats.slices++;
      }
      // A slice ends no later than its parent's end (clock reads can tie): keep nesting strict.
      open_ends.push_back(
          {open_ends.empty() ? sl.end : std::min(sl.end, open_ends.back().end), write});
    }
    while (!open_ends.empty()) {
      if (open_ends.back().written) w.SliceEnd(to_ns(open_ends.back().end));
      open_ends.pop_back();
    }
    std::vector<Slice>().swap(t->kept);  // Freed as soon as written.
  }
  stats.dropped_slices = im.dropped_slices;
  if (im.dropped_slices != 0) {
    w.ProcessInstant(mono_end, "hookprof: " + std::to_string(im.dropped_slices) +
                                   " slices dropped (trace memory budget reached)");
  }
  w.End();
  w.Flush();
  return stats;
}

TraceStats WriteTrace(const TraceStart& start, const TraceFilter& filter, TraceFormat format,
                      const std::function<void(const std::string&)>& sink) {
  TraceCollector c(filter, start.heads.empty());
  if (!start.heads.empty()) {
    // A window that began earlier: read from the recorded heads and calibrate from its start.
    c.impl_->start_tsc = start.tsc;
    c.impl_->start_mono = start.mono_ns;
    c.impl_->start_positions.clear();
    for (const auto& h : start.heads) c.impl_->start_positions[h.first] = h.second;
  }
  return c.Write(format, sink);
}

}  // namespace runtime
}  // namespace hookprof
