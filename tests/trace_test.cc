// Traces decoded as Perfetto decodes them: the protobuf parsed against upstream's field
// numbers, every thread on a named track, slices nested, one slice per call.
#include "runtime/trace/trace.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "hookprof.h"
#include "instrument/mode.h"
#include "instrument/state/clock.h"
#include "instrument/state/thread_state.h"
#include "runtime/trace/trace_writer.h"
#include "runtime/windows/windows.h"
#include "tests/perfetto_trace.pb.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using perfetto::protos::Trace;
using perfetto::protos::TrackEvent;

struct Decoded {
  std::map<uint64_t, std::string> track_names;  // uuid -> thread name
  std::map<std::string, int> begins;            // "<thread>/<function>" -> slice count
  std::vector<std::string> instants;
  int max_depth = 0;
  std::map<std::string, std::vector<std::string>> args;  // "<thread>/<function>" -> "k=v,..."
};

Decoded Decode(const std::string& bytes) {
  Trace trace;
  EXPECT_TRUE(trace.ParseFromString(bytes));
  Decoded d;
  std::map<uint32_t, std::map<uint64_t, std::string>> names;  // per sequence: iid -> name
  std::map<uint64_t, std::vector<std::string>> open;          // per track
  std::map<uint64_t, uint64_t> last_ts;
  for (const auto& p : trace.packet()) {
    if (p.has_track_descriptor() && p.track_descriptor().has_thread()) {
      d.track_names[p.track_descriptor().uuid()] = p.track_descriptor().thread().thread_name();
      EXPECT_GT(p.track_descriptor().thread().tid(), 0);
    }
    for (const auto& n : p.interned_data().event_names()) {
      names[p.trusted_packet_sequence_id()][n.iid()] = n.name();
    }
    if (!p.has_track_event()) continue;
    const auto& e = p.track_event();
    const uint64_t track = e.track_uuid();
    EXPECT_TRUE(d.track_names.count(track)) << "event on a track with no descriptor";
    EXPECT_GE(p.timestamp(), last_ts[track]) << "timestamps go back on a track";
    last_ts[track] = p.timestamp();
    const std::string thread = d.track_names[track];
    if (e.type() == TrackEvent::TYPE_SLICE_BEGIN) {
      const std::string name = names[p.trusted_packet_sequence_id()][e.name_iid()];
      EXPECT_FALSE(name.empty()) << "name_iid " << e.name_iid() << " not interned";
      open[track].push_back(name);
      d.max_depth = std::max<int>(d.max_depth, open[track].size());
      d.begins[thread + "/" + name]++;
      std::string args;
      for (const auto& a : e.debug_annotations()) {
        args += (args.empty() ? "" : ",") + a.name() + "=" + a.string_value();
      }
      d.args[thread + "/" + name].push_back(args);
    } else if (e.type() == TrackEvent::TYPE_SLICE_END) {
      EXPECT_FALSE(open[track].empty()) << "unbalanced end";
      if (!open[track].empty()) open[track].pop_back();
    } else if (e.type() == TrackEvent::TYPE_INSTANT) {
      d.instants.push_back(e.name());
    }
  }
  for (const auto& [track, stack] : open) EXPECT_TRUE(stack.empty()) << "unclosed slices";
  return d;
}

std::string Capture(const runtime::TraceStart& start, const runtime::TraceFilter& filter,
                    runtime::TraceFormat format = runtime::TraceFormat::kPerfetto) {
  std::string out;
  runtime::WriteTrace(start, filter, format, [&out](const std::string& c) {
    out += c;
    return true;
  });
  return out;
}

void RunTraced(const char* name, const std::function<void()>& body) {
  std::thread t([&] {
    pthread_setname_np(pthread_self(), name);
    body();
  });
  t.join();
}

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override { instrument::SetMode(instrument::kModeTrace); }
  void TearDown() override { instrument::SetMode(instrument::kModeProfile); }
};

TEST_F(TraceTest, OneSlicePerCallOnANamedThreadTrack) {
  const auto start = runtime::TraceStart::Now();
  RunTraced("traced", [] { workload::Outer(3, 4); });
  const Decoded d = Decode(Capture(start, {}));
  EXPECT_EQ(d.begins.at("traced/workload::Outer(int, int)"), 1);
  EXPECT_EQ(d.begins.at("traced/workload::Middle(int)"), 3);
  EXPECT_EQ(d.begins.at("traced/workload::Leaf()"), 12);
  EXPECT_GE(d.max_depth, 3);
  bool named = false;
  for (const auto& [uuid, name] : d.track_names) named |= name == "traced";
  EXPECT_TRUE(named);
}

TEST_F(TraceTest, OnlyTheWindowIsTraced) {
  RunTraced("before", [] { workload::Middle(5); });
  const auto start = runtime::TraceStart::Now();
  RunTraced("inside", [] { workload::Middle(2); });
  const Decoded d = Decode(Capture(start, {}));
  EXPECT_EQ(d.begins.count("before/workload::Leaf()"), 0u);
  EXPECT_EQ(d.begins.at("inside/workload::Leaf()"), 2);
}

TEST_F(TraceTest, ClipsSlicesOpenAtTheWindowStart) {
  // Spin is entered before the window opens and left inside it: one slice, clipped, balanced.
  std::thread spinner([] {
    pthread_setname_np(pthread_self(), "spinner");
    workload::Spin(300);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = runtime::TraceStart::Now();
  spinner.join();
  const Decoded d = Decode(Capture(start, {}));  // Decode checks the balance.
  EXPECT_EQ(d.begins.at("spinner/workload::Spin(int)"), 1);
}

TEST_F(TraceTest, FiltersByDepthDurationAndName) {
  const auto start = runtime::TraceStart::Now();
  RunTraced("filtered", [] { workload::Outer(2, 3); });
  runtime::TraceFilter only_leaf;
  only_leaf.include = "Leaf";
  Decoded d = Decode(Capture(start, only_leaf));
  EXPECT_EQ(d.begins.at("filtered/workload::Leaf()"), 6);
  EXPECT_EQ(d.begins.count("filtered/workload::Middle(int)"), 0u);

  runtime::TraceFilter no_leaf;
  no_leaf.exclude = "Leaf";
  d = Decode(Capture(start, no_leaf));
  EXPECT_EQ(d.begins.count("filtered/workload::Leaf()"), 0u);
  EXPECT_EQ(d.begins.at("filtered/workload::Middle(int)"), 2);

  runtime::TraceFilter long_only;
  long_only.min_ns = 10000000000;  // 10 s: nothing here lasts that long.
  d = Decode(Capture(start, long_only));
  EXPECT_EQ(d.begins.count("filtered/workload::Leaf()"), 0u);

  runtime::TraceFilter shallow;
  shallow.max_depth = 1;
  d = Decode(Capture(start, shallow));
  EXPECT_EQ(d.max_depth, 1);

  std::string reason;
  runtime::TraceFilter bad;
  bad.include = "([";
  EXPECT_FALSE(runtime::ValidateTraceFilter(bad, &reason));
  EXPECT_NE(reason.find("invalid regular expression"), std::string::npos);
}

TEST_F(TraceTest, CountsAndReportsEventsLostToAFullRing) {
  instrument::SetTraceRingEvents(1024);
  const runtime::TraceLossTotals before = runtime::TraceLosses();
  const auto start = runtime::TraceStart::Now();
  RunTraced("flooded", [] { workload::Middle(3000); });
  instrument::SetTraceRingEvents(1 << 20);
  std::string out;
  const runtime::TraceStats stats =
      runtime::WriteTrace(start, {}, runtime::TraceFormat::kPerfetto, [&out](const std::string& c) {
        out += c;
        return true;
      });
  EXPECT_GT(stats.lost_events, 4000u);
  // The process's total (a Prometheus series) has them too.
  EXPECT_EQ(runtime::TraceLosses().lost_events - before.lost_events, stats.lost_events);
  const Decoded d = Decode(out);
  bool reported = false;
  for (const auto& i : d.instants) reported |= i.find("events lost") != std::string::npos;
  EXPECT_TRUE(reported);
}

// Windows filtered in the hooks (runtime::SliceFilterFor): complete slices from the exit hooks.
// `labelled`: Outer runs under a label scope, whose pseudo-frame is no call (depths are the same).
void DepthFilterCase(bool labelled) {
  runtime::TraceFilter shallow;
  std::unique_ptr<runtime::TraceSession> session;
  std::unique_ptr<runtime::TraceCollector> c;
  uint32_t base = 0;
  RunTraced("hooked", [&] {
    // Builds that instrument this test put frames of its own below Outer: count from there.
    base = instrument::CurrentThreadState()->depth;
    shallow.max_depth = static_cast<int>(base) + 2;
    const runtime::HookSliceFilter hook = runtime::SliceFilterFor(shallow);
    ASSERT_TRUE(hook.on);
    EXPECT_EQ(hook.max_depth, base + 2);
    session = std::make_unique<runtime::TraceSession>(hook);
    EXPECT_EQ(instrument::GetMode(), instrument::kModeTiming);  // Was profile.
    c = std::make_unique<runtime::TraceCollector>(shallow, runtime::TraceStart::Now(),
                                                  runtime::TraceSource::kSlices);
    if (labelled) {
      LabelScope scope({{"request", "deep"}});
      workload::Outer(3, 4);
    } else {
      workload::Outer(3, 4);
    }
  });
  std::string out;
  c->WriteTo(runtime::TraceFormat::kPerfetto, [&out](const std::string& chunk) {
    out += chunk;
    return true;
  });
  const Decoded d = Decode(out);
  EXPECT_EQ(d.begins.at("hooked/workload::Outer(int, int)"), 1);
  EXPECT_EQ(d.begins.at("hooked/workload::Middle(int)"), 3);
  EXPECT_EQ(d.begins.count("hooked/workload::Leaf()"), 0u);  // One level deeper: never written.
  EXPECT_EQ(d.max_depth, static_cast<int>(base) + 2);
  if (labelled) {
    EXPECT_EQ(d.args.at("hooked/workload::Outer(int, int)"),
              std::vector<std::string>{"request=deep"});
  }
  session.reset();
  EXPECT_EQ(instrument::GetMode(), instrument::kModeProfile);
}

TEST(HookFilteredTraceTest, DepthAloneIsDecidedInTheHooksAndTheModeComesBack) {
  DepthFilterCase(false);
}

TEST(HookFilteredTraceTest, DepthCountsCallsNotLabelScopes) { DepthFilterCase(true); }

TEST(HookFilteredTraceTest, CountsSlicesLostToAFullSliceRing) {
  runtime::TraceFilter any;
  any.min_ns = 1;
  runtime::TraceSession session(runtime::SliceFilterFor(any));
  runtime::TraceCollector c(any, runtime::TraceStart::Now(), runtime::TraceSource::kSlices);
  // 100,001 calls before anything drains the ring of 65,536 records (of which the reader trusts
  // all but the one the owner could be writing).
  // The hooks leave out a call shorter than min_ns or one whose clock went back (a virtual
  // CPU's TSC after a migration): what they wrote is the thread's head.
  uint64_t written = 0;
  RunTraced("flooded", [&written] {
    workload::Middle(100000);
    written = __atomic_load_n(&instrument::CurrentThreadState()->slice_head, __ATOMIC_ACQUIRE);
  });
  const runtime::TraceStats stats = c.Finish();
  ASSERT_GT(written, instrument::kSliceRingRecords) << "the ring never filled";
  EXPECT_GE(stats.events, instrument::kSliceRingRecords - 1);  // Other threads may add some.
  EXPECT_GE(stats.lost_events, written - (instrument::kSliceRingRecords - 1));
}

TEST_F(TraceTest, JsonHasTheSameSlices) {
  const auto start = runtime::TraceStart::Now();
  RunTraced("jsoned", [] { workload::Middle(4); });
  const std::string json = Capture(start, {}, runtime::TraceFormat::kJson);
  ASSERT_EQ(json.compare(0, 15, "{\"displayTimeUn"), 0);
  size_t leaf = 0, pos = 0;
  while ((pos = json.find("\"name\":\"workload::Leaf()\"", pos)) != std::string::npos) {
    ++leaf;
    ++pos;
  }
  EXPECT_EQ(leaf, 4u);
  EXPECT_NE(json.find("\"thread_name\""), std::string::npos);
  EXPECT_NE(json.find("\"args\":{\"name\":\"jsoned\"}"), std::string::npos);
}

// Labels (hookprof.h) become arguments of the outermost slice under them, in both formats.
TEST_F(TraceTest, TheOutermostSliceUnderALabelScopeCarriesItsLabels) {
  const auto start = runtime::TraceStart::Now();
  const auto body = [] {
    LabelScope scope({{"endpoint", "/traced"}, {"tenant", "7"}});
    workload::Middle(2);
  };
  RunTraced("labelled", body);
  const Decoded d = Decode(Capture(start, {}));
  EXPECT_EQ(d.args.at("labelled/workload::Middle(int)"),
            std::vector<std::string>{"endpoint=/traced,tenant=7"});
  EXPECT_EQ(d.args.at("labelled/workload::Leaf()"), (std::vector<std::string>{"", ""}));

  const auto json_start = runtime::TraceStart::Now();
  RunTraced("labelled", body);
  const std::string json = Capture(json_start, {}, runtime::TraceFormat::kJson);
  const std::string args = "\"args\":{\"endpoint\":\"/traced\",\"tenant\":\"7\"}";
  const size_t at = json.find(args);
  ASSERT_NE(at, std::string::npos) << json;
  EXPECT_EQ(json.find(args, at + 1), std::string::npos) << "only the outermost slice has them";
  EXPECT_EQ(json.rfind("\"name\":\"workload::Middle(int)\"", at), json.rfind("\"name\":", at));
}

// Windows that end at their deadline (runtime::RecordTrace), read by a collector that wakes
// late, as one does on a busy machine: its waits sleep 40 ms longer than asked.
struct TimedSlice {
  std::string name;
  uint64_t begin, end;
};

std::vector<TimedSlice> SlicesOf(const std::string& bytes) {
  Trace trace;
  EXPECT_TRUE(trace.ParseFromString(bytes));
  std::map<uint32_t, std::map<uint64_t, std::string>> names;
  std::map<uint64_t, std::vector<TimedSlice>> open;
  std::vector<TimedSlice> out;
  for (const auto& p : trace.packet()) {
    for (const auto& n : p.interned_data().event_names()) {
      names[p.trusted_packet_sequence_id()][n.iid()] = n.name();
    }
    if (!p.has_track_event()) continue;
    const auto& e = p.track_event();
    if (e.type() == TrackEvent::TYPE_SLICE_BEGIN) {
      open[e.track_uuid()].push_back(
          {names[p.trusted_packet_sequence_id()][e.name_iid()], p.timestamp(), 0});
    } else if (e.type() == TrackEvent::TYPE_SLICE_END && !open[e.track_uuid()].empty()) {
      out.push_back(open[e.track_uuid()].back());
      out.back().end = p.timestamp();
      open[e.track_uuid()].pop_back();
    }
  }
  return out;
}

void ExpectTheWindowEndsAtItsDeadline(const runtime::TraceFilter& filter) {
  constexpr int64_t kWindow = 200000000;  // 200 ms.
  constexpr int64_t kLate = 150000000;    // Each wait of the collector sleeps this much longer.
  const auto late_wait = [](int64_t nanos) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(nanos + kLate));
    return true;
  };
  std::atomic<bool> stop{false};
  std::atomic<int> ticks{0};
  std::thread spinner, ticker;
  const int64_t opened = instrument::MonotonicNanos();
  // The window opens inside RecordTrace; the threads start once it is open (the mode is set).
  // When the window was seen open: at or after its start, however late this thread ran.
  std::atomic<int64_t> seen_open{0};
  std::thread starter([&] {
    while (instrument::GetMode() == instrument::kModeProfile) std::this_thread::yield();
    seen_open = instrument::MonotonicNanos();
    spinner = std::thread([] {
      pthread_setname_np(pthread_self(), "spinner");
      workload::Spin(400);  // Runs past the window's end: clipped there.
    });
    ticker = std::thread([&] {
      pthread_setname_np(pthread_self(), "ticker");
      while (!stop) {
        workload::Nap(1);
        ++ticks;
      }
    });
  });
  auto collector = runtime::RecordTrace(filter, kWindow, late_wait);
  starter.join();
  spinner.join();
  stop = true;
  ticker.join();
  const int64_t closed = instrument::MonotonicNanos();
  ASSERT_NE(collector, nullptr);
  ASSERT_GT(closed - opened, kWindow + kLate);  // The collector did run late.
  std::string bytes;
  collector->WriteTo(runtime::TraceFormat::kPerfetto, [&bytes](const std::string& c) {
    bytes += c;
    return true;
  });
  const std::vector<TimedSlice> slices = SlicesOf(bytes);
  ASSERT_FALSE(slices.empty());
  // The spin runs through the end: its slice ends where the window does. That end is 200 ms
  // after a start read inside RecordTrace (after `opened`, before `seen_open`: on a busy
  // machine either may be tens of ms from it), well before the late collector finished.
  uint64_t end = 0;
  for (const TimedSlice& sl : slices) {
    if (sl.name == "workload::Spin(int)") end = sl.end;
  }
  ASSERT_NE(end, 0u) << "no slice for the spin running at the end";
  EXPECT_GE(end + 1000000, static_cast<uint64_t>(opened + kWindow));
  EXPECT_LE(end, static_cast<uint64_t>(seen_open + kWindow + kLate / 3))
      << "the window ended when the collector got to it, not at its deadline";
  int naps = 0, outside = 0;
  std::string first_outside;
  for (const TimedSlice& sl : slices) {
    if (sl.end > end || sl.begin < static_cast<uint64_t>(opened)) {
      if (outside++ == 0) first_outside = sl.name;
    }
    naps += sl.name == "workload::Nap(int)" ? 1 : 0;
  }
  EXPECT_EQ(outside, 0) << "slices outside the window, the first: " << first_outside;
  // Calls made after the deadline, while the collector slept, are left out.
  EXPECT_LT(naps, ticks.load());
}

TEST(TraceWindowTest, EveryEventWindowEndsAtItsDeadlineHoweverLateTheCollectorRuns) {
  ExpectTheWindowEndsAtItsDeadline({});
}

TEST(TraceWindowTest, HookFilteredWindowEndsAtItsDeadlineHoweverLateTheCollectorRuns) {
  runtime::TraceFilter shallow;
  shallow.min_ns = 1;  // Decided in the hooks: the slice ring, not the event ring.
  ASSERT_TRUE(runtime::SliceFilterFor(shallow).on);
  ExpectTheWindowEndsAtItsDeadline(shallow);
}

TEST(JsonTraceTest, ALongNameIsWrittenInFullOnceAndShortInEveryEvent) {
  // Template code has names of tens of kilobytes: 1,000 calls must not carry one each.
  const std::string longest = "ns::Vec<" + std::string(38000, 'T') + ">::push_back()";
  const std::string other = "ns::Vec<" + std::string(38000, 'U') + ">::push_back()";
  std::string out;
  runtime::TraceStats stats;
  const runtime::TraceSink sink = [&out](const std::string& chunk) {  // Outlives the writer.
    out += chunk;
    return true;
  };
  auto w = runtime::TraceWriter::New(runtime::TraceFormat::kJson, sink, &stats);
  w->Begin();
  w->Thread(1234, 1, "worker");
  for (int i = 0; i < 1000; ++i) {
    w->SliceBegin(1000 * i, 7, i % 2 == 0 ? longest : other, nullptr);
    w->SliceEnd(1000 * i + 500);
  }
  w->End();
  w->Flush();
  EXPECT_LT(out.size(), 1000u * 400 + 2 * 40000);
  size_t full = 0;
  for (size_t at = 0; (at = out.find(longest, at)) != std::string::npos; at += longest.size()) {
    ++full;
  }
  EXPECT_EQ(full, 1u);
  // The two names stay apart in their short forms.
  const std::string head = "\"name\":\"ns::Vec<" + std::string(200, 'T');
  EXPECT_NE(out.find(head), std::string::npos);
  const size_t hash = out.find("... [#");
  ASSERT_NE(hash, std::string::npos);
  EXPECT_NE(out.find("... [#", out.find(std::string(200, 'U'))), std::string::npos);
}

}  // namespace
}  // namespace hookprof
