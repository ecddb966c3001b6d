#include "runtime/trace.h"

#include <malloc.h>
#include <stdio.h>

#include <algorithm>
#include <deque>
#include <unordered_map>

#include "instrument/clock.h"
#include "runtime/snapshot.h"
#include "runtime/symbolizer.h"
#include "runtime/trace_ring.h"

namespace hookprof {
namespace runtime {
namespace {

// The whole run's calibration pair (NoteTraceEpoch).
uint64_t g_epoch_tsc = 0;
int64_t g_epoch_mono = 0;

struct Slice {
  uint64_t begin, end;
  uint32_t node;
  uint32_t depth;  // Nesting among the kept slices, set by Finish.
};

// Kept slices of every open collector share one budget (SetTraceMemoryBudget), reserved in
// blocks so that keeping a slice is not an atomic operation.
constexpr uint64_t kReserveSlices = 16384;
uint64_t g_budget_slices = (uint64_t{128} << 20) / sizeof(Slice);
uint64_t g_reserved_slices = 0;  // Atomic.

bool Reserve(uint64_t slices) {
  uint64_t now = __atomic_load_n(&g_reserved_slices, __ATOMIC_RELAXED);
  do {
    if (now + slices > __atomic_load_n(&g_budget_slices, __ATOMIC_RELAXED)) return false;
  } while (!__atomic_compare_exchange_n(&g_reserved_slices, &now, now + slices, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return true;
}

}  // namespace

void SetTraceMemoryBudget(uint64_t bytes) {
  __atomic_store_n(&g_budget_slices, bytes / sizeof(Slice), __ATOMIC_RELAXED);
}

uint64_t TraceMemoryInUse() {
  return __atomic_load_n(&g_reserved_slices, __ATOMIC_RELAXED) * sizeof(Slice);
}

void NoteTraceEpoch() {
  g_epoch_mono = instrument::MonotonicNanos();
  g_epoch_tsc = __builtin_ia32_rdtsc();
}

TraceStart TraceStart::Now() {
  TraceStart t;
  t.mono_ns = instrument::MonotonicNanos();
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

struct TraceCollector::Thread {
  const instrument::ThreadState* state = nullptr;
  uint64_t position = 0;  // Next ring index to read.
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
  explicit Impl(const TraceFilter& f) : filter(f), matcher(f) {}

  TraceFilter filter;
  NameMatcher matcher;
  std::shared_ptr<const Symbolizer> symbolizer = Symbolizer::Current();
  uint64_t start_tsc = 0;
  int64_t start_mono = 0;
  uint64_t dropped_slices = 0;
  uint64_t budget_dropped = 0;  // Of those, for the shared memory budget.
  uint64_t kept_slices = 0;
  uint64_t reserved = 0;  // Slices of the shared budget held by this collector.
  bool finished = false;
  TraceStats stats;
  int64_t end_mono = 0;
  uint64_t end_tsc = 0;
  double ns_per_tick = 0;
  std::unordered_map<const instrument::ThreadState*, uint64_t> start_positions;
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
      if (!Reserve(kReserveSlices)) {
        ++dropped_slices;
        ++budget_dropped;
        return;
      }
      reserved += kReserveSlices;
    }
    ++kept_slices;
    t->kept.push_back({begin, end, node, 0});
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
    const size_t max_depth = filter.max_depth > 0 ? filter.max_depth : SIZE_MAX;
    uint64_t n = 0;
    for (const Slice& sl : t->kept) {
      if (sl.depth >= max_depth) continue;
      while (!ends.empty() && ends.back() <= sl.begin) {
        w->SliceEnd(to_ns(ends.back()));
        ends.pop_back();
      }
      auto name = names.find(sl.node);
      if (name == names.end()) name = names.emplace(sl.node, NameOf(t->state, sl.node)).first;
      w->SliceBegin(to_ns(sl.begin), sl.node, name->second);
      ends.push_back(sl.end);
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

TraceCollector::TraceCollector(const TraceFilter& filter, const TraceStart& start)
    : impl_(new Impl(filter)) {
  impl_->start_tsc = start.tsc;
  impl_->start_mono = start.mono_ns;
  for (const auto& h : start.heads) impl_->start_positions[h.first] = h.second;
}

TraceCollector::~TraceCollector() {
  __atomic_sub_fetch(&g_reserved_slices, impl_->reserved, __ATOMIC_RELAXED);
  // A large trace leaves freed pages in the allocator's arenas: give them back.
  if (impl_->reserved > 4 * kReserveSlices) {
    impl_.reset();
    malloc_trim(0);
  }
}

void TraceCollector::Poll() {
  Impl& im = *impl_;
  const uint64_t tsc_now = __builtin_ia32_rdtsc();
  const int64_t mono_now = instrument::MonotonicNanos();
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
    if (im.kept_slices >= im.filter.max_slices) {
      // Full: nothing more can be kept, so skip the work and count what is passed over.
      const uint64_t head = __atomic_load_n(&s->ring_head, __ATOMIC_ACQUIRE);
      if (head > t->position) {
        im.dropped_slices += (head - t->position) / 2;
        t->position = head;
      }
      continue;
    }
    uint64_t next = t->position;
    ReadTraceRing(s, t->position, tsc_now, &t->lost, &next,
                  [&](const std::vector<TraceEvent>& events) {
                    t->events += events.size();
                    im.Pair(t, events, im.start_tsc, ns_per_tick);
                  });
    t->position = next;
  }
}

TraceStats TraceCollector::Finish() {
  Impl& im = *impl_;
  if (im.finished) return im.stats;
  Poll();
  im.finished = true;
  im.end_mono = instrument::MonotonicNanos();
  im.end_tsc = __builtin_ia32_rdtsc();
  const double ns_per_tick = im.end_tsc > im.start_tsc ? double(im.end_mono - im.start_mono) /
                                                             double(im.end_tsc - im.start_tsc)
                                                       : 0;
  im.ns_per_tick = ns_per_tick;
  TraceStats& stats = im.stats;
  for (auto& tp : im.threads) {
    Thread* t = tp.get();
    // What is still open ends with the window.
    while (!t->open.empty()) {
      im.Close(t, t->open.back().begin, im.end_tsc, t->open.back().node, ns_per_tick);
      t->open.pop_back();
    }
    stats.events += t->events;
    stats.lost_events += t->lost;
    if (t->kept.empty() && t->lost == 0) continue;
    stats.threads++;
    stats.slices += im.Order(t);
  }
  stats.dropped_slices = im.dropped_slices;
  return stats;
}

TraceStats TraceCollector::WriteTo(TraceFormat format, const TraceSink& sink) {
  Finish();
  Impl& im = *impl_;
  TraceStats stats = im.stats;
  stats.bytes = 0;
  auto to_ns = [&im](uint64_t tsc) {
    return im.end_mono -
           static_cast<int64_t>(double(im.end_tsc - std::min(tsc, im.end_tsc)) * im.ns_per_tick);
  };
  std::unique_ptr<TraceWriter> w = TraceWriter::New(format, sink, &stats);
  w->Begin();
  int index = 0;
  for (auto& tp : im.threads) {
    Thread* t = tp.get();
    ++index;
    if (t->kept.empty() && t->lost == 0) continue;
    w->Thread(t->state->tid, index, ThreadName(t->state));
    if (!im.WriteThread(t, w.get(), to_ns)) return stats;  // The reader is gone.
  }
  if (im.dropped_slices != 0) {
    w->ProcessInstant(
        im.end_mono,
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
