#include "runtime/trace/trace.h"

#include <malloc.h>
#include <stdio.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <set>
#include <unordered_map>

#include "instrument/labels.h"
#include "instrument/state/tsc.h"
#include "runtime/core/snapshot.h"
#include "runtime/symbols/symbolizer.h"
#include "runtime/trace/trace_memory.h"
#include "runtime/trace/trace_ring.h"

namespace hookprof {
namespace runtime {
namespace {

// The whole run's calibration pair (NoteTraceEpoch).
instrument::TscPair g_epoch;

struct Slice {
  uint64_t begin, end;
  uint32_t node;
  uint32_t depth;  // Nesting among the kept slices, set by Finish.
};
static_assert(sizeof(Slice) == kTraceSliceBytes, "the shared budget counts slices of this size");
// Slices a collector takes from the shared budget at a time, so that keeping a slice is not an
// atomic operation.
constexpr uint64_t kReserveSlices = 16384;

}  // namespace

void NoteTraceEpoch() { g_epoch = instrument::TscPair::Now(); }

TraceStart TraceStart::Now() {
  TraceStart t;
  const instrument::TscPair now = instrument::TscPair::Now();
  t.mono_ns = now.mono_ns;
  t.tsc = now.tsc;
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    t.heads.push_back({s, __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE),
                       __atomic_load_n(&s->slice_head, __ATOMIC_ACQUIRE),
                       instrument::LoadRelaxed(s->ring_failures)});
  }
  return t;
}

TraceStart TraceStart::Beginning() {
  TraceStart t;
  if (g_epoch.tsc == 0) NoteTraceEpoch();
  t.mono_ns = g_epoch.mono_ns;
  t.tsc = g_epoch.tsc;
  return t;  // No heads: every thread from its first event.
}

struct TraceCollector::Thread {
  const instrument::ThreadState* state = nullptr;
  uint64_t position = 0;        // Next ring index to read.
  uint64_t slice_position = 0;  // Next slice record to read.
  uint64_t failures = 0;        // ring_failures at the start.
  // kSlices: calls running at the window's end, (begin, node), until their record shows up.
  std::set<std::pair<uint64_t, uint32_t>> running;
  struct Open {
    uint64_t begin;
    uint32_t node;
  };
  std::vector<Open> open;
  std::deque<Slice> kept;  // Grows in blocks: no doubling slack over the budget.
  uint64_t lost = 0;
  uint64_t events = 0;
  std::unordered_map<uint32_t, bool> keep_node;  // include/exclude decision per node
};

struct TraceCollector::Impl {
  Impl(const TraceFilter& f, TraceSource s) : filter(f), matcher(f), source(s) {}

  TraceFilter filter;
  NameMatcher matcher;
  TraceSource source;
  std::shared_ptr<const Symbolizer> symbolizer = Symbolizer::Current();
  uint64_t start_tsc = 0;
  int64_t start_mono = 0;
  // The window's end fixed in advance (0: when Finish is called). Events after it are left
  // out and calls running at it end there, however late the collector reads.
  uint64_t deadline_tsc = 0;
  uint64_t dropped_slices = 0;
  uint64_t budget_dropped = 0;  // Of those, for the shared memory budget.
  uint64_t kept_slices = 0;
  uint64_t reserved = 0;  // Slices of the shared budget held by this collector.
  bool finished = false;
  TraceStats stats;
  uint64_t end_tsc = 0;
  std::optional<instrument::TscLine> line;  // Window start to end, set by Finish.
  std::unordered_map<const instrument::ThreadState*, TraceStart::Heads> start_positions;
  std::vector<std::unique_ptr<Thread>> threads;
  std::unordered_map<const instrument::ThreadState*, Thread*> by_state;

  std::string NameOf(const instrument::ThreadState* s, uint32_t node) const {
    if (node == instrument::kOverflowNode) return kDroppedPathsFrame;
    return symbolizer->NameOf(s->nodes[FunctionNodeOf(s, node)].fn);
  }

  // The window ends now, or at its deadline if that has passed; ticks convert along the line
  // from its start to now.
  void SetEnd() {
    const instrument::TscPair now = instrument::TscPair::Now();
    end_tsc = deadline_tsc != 0 ? std::min(deadline_tsc, now.tsc) : now.tsc;
    line.emplace(instrument::TscPair{start_tsc, start_mono}, now);
  }

  bool Keep(Thread* t, uint32_t node) {
    if (!matcher.active()) return true;
    auto it = t->keep_node.find(node);
    if (it != t->keep_node.end()) return it->second;
    const bool keep = matcher.Keep(NameOf(t->state, node));
    t->keep_node.emplace(node, keep);
    return keep;
  }

  // A slice closed: keep it if the filters and the memory budget allow. Depth is filtered when
  // writing, where nesting among kept slices is known.
  void Close(Thread* t, uint64_t begin, uint64_t end, uint32_t node, double ns_per_tick) {
    if (filter.min_ns != 0 && double(end - begin) * ns_per_tick < double(filter.min_ns)) return;
    if (!Keep(t, node)) return;
    if (kept_slices >= filter.max_slices) {
      ++dropped_slices;
      return;
    }
    if (kept_slices >= reserved) {
      if (!ReserveTraceSlices(kReserveSlices)) {
        ++dropped_slices;
        ++budget_dropped;
        return;
      }
      reserved += kReserveSlices;
    }
    ++kept_slices;
    t->kept.push_back({begin, end, node, 0});
  }

  // A complete call from the hooks (kSlices): clipped to the window's start, filtered as a
  // paired slice is.
  void Record(Thread* t, const instrument::SliceRecord& r, double ns_per_tick) {
    if (r.end <= start_tsc || r.node >= instrument::PublishedNodes(t->state)) return;
    if (end_tsc != 0 && r.begin >= end_tsc) return;  // Began after the window.
    if (!t->running.empty()) t->running.erase({r.begin, r.node});
    const uint64_t end = end_tsc != 0 ? std::min(r.end, end_tsc) : r.end;
    Close(t, std::max(r.begin, start_tsc), end, r.node, ns_per_tick);
  }

  // kSlices, as the window ends: the calls on each thread's shadow stack, which have not
  // written their slice yet. Read while the owner runs: a frame whose entry TSC changed while
  // it was read is being replaced, and left out.
  void NoteRunningCalls() {
    const uint64_t since = instrument::TimedSince();
    for (auto& tp : threads) {
      Thread* t = tp.get();
      const instrument::ThreadState* s = t->state;
      if (!__atomic_load_n(&s->alive, __ATOMIC_RELAXED)) continue;
      uint32_t d = __atomic_load_n(&s->depth, __ATOMIC_RELAXED);
      d = std::min(d, instrument::kMaxDepth);
      const uint32_t nodes = instrument::PublishedNodes(s);
      for (uint32_t i = 0; i < d; ++i) {
        const instrument::Frame& f = s->stack[i];
        const uint64_t tsc = __atomic_load_n(&f.tsc, __ATOMIC_RELAXED);
        const uint32_t node = __atomic_load_n(&f.node, __ATOMIC_RELAXED);
        if (__atomic_load_n(&f.tsc, __ATOMIC_RELAXED) != tsc || node >= nodes) continue;
        // As the hooks do: a call entered before timing began starts when it began.
        t->running.insert({tsc >= since ? tsc : since, node});
      }
    }
  }

  // Pairs new events into slices. Slices whose enter came before the window begin at
  // `window_begin`; frames whose exits were skipped (resynchronised) close at the next exit.
  void Pair(Thread* t, const std::vector<TraceEvent>& events, uint64_t window_begin,
            double ns_per_tick) {
    for (const TraceEvent& e : events) {
      if (!e.exit) {
        t->open.push_back({e.tsc, e.node});
        continue;
      }
      size_t k = t->open.size();
      while (k > 0 && t->open[k - 1].node != e.node) --k;
      if (k == 0) {
        // Entered before the window: everything open is inside it and ends here too.
        while (!t->open.empty()) {
          Close(t, t->open.back().begin, e.tsc, t->open.back().node, ns_per_tick);
          t->open.pop_back();
        }
        Close(t, window_begin, e.tsc, e.node, ns_per_tick);
        continue;
      }
      while (t->open.size() >= k) {
        Close(t, t->open.back().begin, e.tsc, t->open.back().node, ns_per_tick);
        t->open.pop_back();
      }
    }
  }

  // Orders one thread's kept slices (outer first), nests them strictly (a slice ends no later
  // than its parent: clock reads can tie), and counts those within filter.max_depth.
  uint64_t Order(Thread* t) {
    std::sort(t->kept.begin(), t->kept.end(), [](const Slice& a, const Slice& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
    });
    std::vector<uint64_t> open_ends;
    const size_t max_depth = filter.max_depth > 0 ? filter.max_depth : SIZE_MAX;
    uint64_t written = 0;
    for (Slice& sl : t->kept) {
      while (!open_ends.empty() && open_ends.back() <= sl.begin) open_ends.pop_back();
      sl.depth = static_cast<uint32_t>(open_ends.size());
      if (!open_ends.empty()) sl.end = std::min(sl.end, open_ends.back());
      open_ends.push_back(sl.end);
      written += sl.depth < max_depth ? 1 : 0;
    }
    return written;
  }

  // Writes one thread's ordered slices; false if the writer's sink gave up.
  template <typename ToNs>
  bool WriteThread(Thread* t, TraceWriter* w, const ToNs& to_ns) {
    if (t->lost != 0) {
      w->Instant(to_ns(t->kept.empty() ? start_tsc : t->kept.front().begin),
                 "hookprof: " + std::to_string(t->lost) +
                     " events lost (ring overwritten before it was read)");
    }
    std::unordered_map<uint32_t, std::string> names;
    std::vector<uint64_t> ends;  // Of the written slices still open.
    std::vector<uint32_t> sets;  // Their label sets: a slice whose set differs carries it.
    const size_t max_depth = filter.max_depth > 0 ? filter.max_depth : SIZE_MAX;
    uint64_t n = 0;
    for (const Slice& sl : t->kept) {
      if (sl.depth >= max_depth) continue;
      while (!ends.empty() && ends.back() <= sl.begin) {
        w->SliceEnd(to_ns(ends.back()));
        ends.pop_back();
        sets.pop_back();
      }
      auto name = names.find(sl.node);
      if (name == names.end()) name = names.emplace(sl.node, NameOf(t->state, sl.node)).first;
      const uint32_t set = LabelSetOfNode(t->state, sl.node);
      const bool labelled = set != 0 && set != (sets.empty() ? 0 : sets.back());
      w->SliceBegin(to_ns(sl.begin), sl.node, name->second,
                    labelled ? instrument::LabelSetById(set) : nullptr);
      ends.push_back(sl.end);
      sets.push_back(set);
      if (++n % 4096 == 0 && w->failed()) return false;
    }
    while (!ends.empty()) {
      w->SliceEnd(to_ns(ends.back()));
      ends.pop_back();
    }
    std::deque<Slice>().swap(t->kept);  // Freed as soon as written.
    return !w->failed();
  }
};

TraceCollector::TraceCollector(const TraceFilter& filter, const TraceStart& start,
                               TraceSource source, int64_t length_nanos)
    : impl_(new Impl(filter, source)) {
  impl_->start_tsc = start.tsc;
  impl_->start_mono = start.mono_ns;
  if (length_nanos > 0) {
    impl_->deadline_tsc = instrument::TscLine(instrument::TscPair{start.tsc, start.mono_ns})
                              .ToTsc(start.mono_ns + length_nanos);
    // Records of calls that end after the deadline are clipped to it as they are read.
    impl_->end_tsc = impl_->deadline_tsc;
  }
  for (const auto& h : start.heads) impl_->start_positions[h.state] = h;
}

TraceCollector::~TraceCollector() {
  ReturnTraceSlices(impl_->reserved);
  // A large trace leaves freed pages in the allocator's arenas: give them back.
  if (impl_->reserved > 4 * kReserveSlices) {
    impl_.reset();
    malloc_trim(0);
  }
}

void TraceCollector::Poll() {
  Impl& im = *impl_;
  const instrument::TscPair now = instrument::TscPair::Now();
  const double ns_per_tick =
      instrument::TscLine(instrument::TscPair{im.start_tsc, im.start_mono}, now).ns_per_tick();
  // Events stamped after the deadline are outside the window, whenever they are read.
  const uint64_t read_until = im.deadline_tsc != 0 ? im.deadline_tsc : ~uint64_t{0};
  for (const instrument::ThreadState* s = instrument::RegistryHead(); s != nullptr; s = s->next) {
    if (__atomic_load_n(&s->internal, __ATOMIC_RELAXED)) continue;
    Thread* t;
    auto it = im.by_state.find(s);
    if (it == im.by_state.end()) {
      im.threads.push_back(std::make_unique<Thread>());
      t = im.threads.back().get();
      t->state = s;
      auto sp = im.start_positions.find(s);
      if (sp != im.start_positions.end()) {
        t->position = sp->second.events;
        t->slice_position = sp->second.slices;
        t->failures = sp->second.failures;
      }
      im.by_state[s] = t;
    } else {
      t = it->second;
    }
    if (im.kept_slices >= im.filter.max_slices) {
      // Full: nothing more can be kept, so skip the work and count what is passed over.
      if (im.source == TraceSource::kSlices) {
        const uint64_t head = __atomic_load_n(&s->slice_head, __ATOMIC_ACQUIRE);
        im.dropped_slices += head - std::min(head, t->slice_position);
        t->slice_position = std::max(head, t->slice_position);
        continue;
      }
      const uint64_t head = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
      if (head > t->position) {
        im.dropped_slices += (head - t->position) / 2;
        t->position = head;
      }
      continue;
    }
    if (im.source == TraceSource::kSlices) {
      uint64_t next = t->slice_position;
      ReadSliceRing(s, t->slice_position, &t->lost, &next,
                    [&](const std::vector<instrument::SliceRecord>& records) {
                      t->events += records.size();
                      for (const auto& r : records) im.Record(t, r, ns_per_tick);
                    });
      t->slice_position = next;
      continue;
    }
    uint64_t next = t->position;
    ReadTraceRing(s, t->position, read_until, &t->lost, &next,
                  [&](const std::vector<TraceEvent>& events) {
                    t->events += events.size();
                    im.Pair(t, events, im.start_tsc, ns_per_tick);
                  });
    t->position = next;
  }
}

namespace {
std::atomic<uint64_t> g_lost_events{0}, g_dropped_slices{0};
}  // namespace

TraceLossTotals TraceLosses() {
  TraceLossTotals t;
  t.lost_events = g_lost_events.load(std::memory_order_relaxed);
  t.dropped_slices = g_dropped_slices.load(std::memory_order_relaxed);
  return t;
}

TraceStats TraceCollector::Finish() {
  Impl& im = *impl_;
  if (im.finished) return im.stats;
  if (im.source == TraceSource::kSlices) {
    // Every thread known, the window's end, the calls running then, and the records written
    // meanwhile (clipped to the end; a running call's record replaces its note).
    Poll();
    im.SetEnd();
    im.NoteRunningCalls();
    Poll();
  } else {
    Poll();
    im.SetEnd();
  }
  im.finished = true;
  const double ns_per_tick = im.line->ns_per_tick();
  TraceStats& stats = im.stats;
  for (auto& tp : im.threads) {
    Thread* t = tp.get();
    // What is still open ends with the window.
    while (!t->open.empty()) {
      im.Close(t, t->open.back().begin, im.end_tsc, t->open.back().node, ns_per_tick);
      t->open.pop_back();
    }
    for (const auto& [begin, node] : t->running) {
      if (begin < im.end_tsc)
        im.Close(t, std::max(begin, im.start_tsc), im.end_tsc, node, ns_per_tick);
    }
    t->running.clear();
    // Records the hooks could not write (no ring mapped) are lost too.
    t->lost += instrument::LoadRelaxed(t->state->ring_failures) - t->failures;
    stats.events += t->events;
    stats.lost_events += t->lost;
    if (t->kept.empty() && t->lost == 0) continue;
    stats.threads++;
    stats.slices += im.Order(t);
  }
  stats.dropped_slices = im.dropped_slices;
  g_lost_events.fetch_add(stats.lost_events, std::memory_order_relaxed);
  g_dropped_slices.fetch_add(stats.dropped_slices, std::memory_order_relaxed);
  return stats;
}

TraceStats TraceCollector::WriteTo(TraceFormat format, const TraceSink& sink) {
  Finish();
  Impl& im = *impl_;
  TraceStats stats = im.stats;
  stats.bytes = 0;
  auto to_ns = [&im](uint64_t tsc) { return im.line->ToMono(std::min(tsc, im.end_tsc)); };
  std::unique_ptr<TraceWriter> w = TraceWriter::New(format, sink, &stats);
  w->Begin();
  int index = 0;
  for (auto& tp : im.threads) {
    Thread* t = tp.get();
    ++index;
    if (t->kept.empty() && t->lost == 0) continue;
    w->Thread(instrument::TidOf(t->state), index, ThreadName(t->state));
    if (!im.WriteThread(t, w.get(), to_ns)) return stats;  // The reader is gone.
  }
  if (im.dropped_slices != 0) {
    w->ProcessInstant(
        im.line->ToMono(im.end_tsc),
        "hookprof: " + std::to_string(im.dropped_slices) + " slices dropped (" +
            (im.budget_dropped != 0 ? "trace memory budget reached" : "max_slices reached") + ")");
  }
  w->End();
  w->Flush();
  return stats;
}

TraceStats WriteTrace(const TraceStart& start, const TraceFilter& filter, TraceFormat format,
                      const TraceSink& sink) {
  TraceCollector c(filter, start);
  return c.WriteTo(format, sink);
}

}  // namespace runtime
}  // namespace hookprof
