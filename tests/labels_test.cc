// Labels (hookprof.h): the calls, time and bytes of a label scope carry its labels in every
// profile, exactly where the hooks count; scopes nest, follow new threads and can be carried.
#include "instrument/labels.h"

#include <gtest/gtest.h>
#include <time.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "hookprof.h"
#include "instrument/mode.h"
#include "instrument/samplers/contention.h"
#include "instrument/samplers/cpu_sampler.h"
#include "instrument/samplers/heap_sampler.h"
#include "instrument/state/thread_state.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/contention_profile.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/pprof/heap_profile.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/pprof/thread_profile.h"
#include "runtime/symbols/symbolizer.h"
#include "tests/profile_util.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// A decoded profile's samples, as a reader of pprof's labels sees them.
class Decoded {
 public:
  explicit Decoded(pprof::Profile p) : p_(std::move(p)) {}

  // The labels of a sample, "key=value,..." sorted, without hookprof's thread, tid and state.
  std::string LabelsOf(const pprof::Sample& s) const {
    std::map<std::string, std::string> m;
    for (const auto& l : s.label()) {
      const std::string& key = p_.string_table(l.key());
      if (key != "thread" && key != "tid" && key != "state") m[key] = p_.string_table(l.str());
    }
    std::string out;
    for (const auto& [k, v] : m) out += (out.empty() ? "" : ",") + k + "=" + v;
    return out;
  }
  std::string LeafName(const pprof::Sample& s) const {
    if (s.location_id_size() == 0) return "";
    const pprof::Location& loc = p_.location(static_cast<int>(s.location_id(0)) - 1);
    if (loc.line_size() == 0) return "";
    const pprof::Function& f = p_.function(static_cast<int>(loc.line(0).function_id()) - 1);
    return p_.string_table(f.name());
  }
  int Index(const std::string& type) const {
    for (int i = 0; i < p_.sample_type_size(); ++i) {
      if (p_.string_table(p_.sample_type(i).type()) == type) return i;
    }
    ADD_FAILURE() << "no sample type " << type;
    return 0;
  }
  // Value `type` of the samples whose leaf function's name contains `fn`, by labels.
  std::map<std::string, int64_t> ByLabels(const std::string& fn, const std::string& type) const {
    std::map<std::string, int64_t> out;
    const int i = Index(type);
    for (const auto& s : p_.sample()) {
      if (LeafName(s).find(fn) != std::string::npos) out[LabelsOf(s)] += s.value(i);
    }
    return out;
  }
  const pprof::Profile& profile() const { return p_; }

 private:
  pprof::Profile p_;
};

Decoded CpuProfileOf(const runtime::Snapshot& begin) {
  runtime::ProfileBuilder b(runtime::Symbolizer::Current());
  runtime::BuildCpuProfile(runtime::Snapshot::Delta(begin, runtime::Snapshot::Take()), 1, 1000000,
                           &b);
  return Decoded(testing::Decode(b.Finish()));
}

class LabelsTest : public ::testing::Test {
 protected:
  void SetUp() override { instrument::SetMode(instrument::kModeProfile); }
};

TEST_F(LabelsTest, TwoSetsOnTwoThreadsHaveExactCallsEach) {
  const runtime::Snapshot begin = runtime::Snapshot::Take();
  std::thread search([] {
    LabelScope scope({{"endpoint", "/search"}, {"tenant", "42"}});
    workload::Middle(1000);
  });
  std::thread put([] {
    LabelScope scope({{"endpoint", "/put"}});
    workload::Middle(3000);
  });
  search.join();
  put.join();
  const auto calls = CpuProfileOf(begin).ByLabels("workload::Leaf", "calls");
  EXPECT_EQ(calls.at("endpoint=/search,tenant=42"), 1000);
  EXPECT_EQ(calls.at("endpoint=/put"), 3000);
  EXPECT_EQ(calls.size(), 2u) << "no Leaf call outside the scopes";
}

TEST_F(LabelsTest, NestedScopesOverrideAndRestore) {
  const runtime::Snapshot begin = runtime::Snapshot::Take();
  std::thread([] {
    EXPECT_TRUE(CurrentLabels().empty());
    {
      LabelScope outer({{"a", "1"}, {"b", "2"}});
      workload::Middle(7);
      {
        LabelScope inner({{"b", "3"}});
        EXPECT_EQ(CurrentLabels().Get(), (Pairs{{"a", "1"}, {"b", "3"}}));
        workload::Middle(5);
        LabelScope removes({{"a", ""}});
        workload::Middle(2);
      }
      EXPECT_EQ(CurrentLabels().Get(), (Pairs{{"a", "1"}, {"b", "2"}}));
      workload::Middle(11);
    }
    EXPECT_TRUE(CurrentLabels().empty());
    workload::Middle(13);
  }).join();
  const auto calls = CpuProfileOf(begin).ByLabels("workload::Leaf", "calls");
  EXPECT_EQ(calls.at("a=1,b=2"), 18);
  EXPECT_EQ(calls.at("a=1,b=3"), 5);
  EXPECT_EQ(calls.at("b=3"), 2);
  EXPECT_EQ(calls.at(""), 13);
}

TEST_F(LabelsTest, NewThreadsStartWithTheirCreatorsLabels) {
  const runtime::Snapshot begin = runtime::Snapshot::Take();
  std::thread([] {
    LabelScope scope({{"job", "import"}});
    std::thread([] {
      EXPECT_EQ(CurrentLabels().Get(), (Pairs{{"job", "import"}}));
      workload::Middle(17);
    }).join();
  }).join();
  const Decoded p = CpuProfileOf(begin);
  EXPECT_EQ(p.ByLabels("workload::Leaf", "calls").at("job=import"), 17);
  // The threadcreate profile names the creation under the creator's labels.
  runtime::ProfileBuilder b(runtime::Symbolizer::Current());
  runtime::BuildStackCountProfile(runtime::CreatorStacks(), "threadcreate", &b);
  const Decoded created(testing::Decode(b.Finish()));
  int labelled = 0;
  for (const auto& s : created.profile().sample()) labelled += created.LabelsOf(s) == "job=import";
  EXPECT_EQ(labelled, 1);
}

TEST_F(LabelsTest, TheGoroutineProfileShowsEachThreadsLabelsNow) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, leave = false;
  std::thread waiter([&] {
    LabelScope scope({{"job", "waiting"}});
    std::unique_lock<std::mutex> lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return leave; });
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  runtime::ProfileBuilder b(runtime::Symbolizer::Current());
  runtime::BuildStackCountProfile(runtime::LiveThreadStacks(), "goroutine", &b);
  {
    std::lock_guard<std::mutex> lock(mu);
    leave = true;
    cv.notify_all();
  }
  waiter.join();
  const Decoded threads(testing::Decode(b.Finish()));
  int labelled = 0;
  for (const auto& s : threads.profile().sample()) labelled += threads.LabelsOf(s) == "job=waiting";
  EXPECT_EQ(labelled, 1);
}

TEST_F(LabelsTest, CarriedLabelsGoWithAPoolTask) {
  std::mutex mu;
  std::condition_variable cv;
  std::function<void()> task;
  bool done = false;
  std::thread worker([&] {  // Started before any label: it has none of its own.
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return task != nullptr; });
    task();
    done = true;
    cv.notify_all();
  });
  const runtime::Snapshot begin = runtime::Snapshot::Take();
  {
    LabelScope scope({{"request", "r-19"}});
    std::lock_guard<std::mutex> lock(mu);
    task = [labels = CurrentLabels()] {
      LabelScope carried(labels);
      workload::Middle(19);
    };
    cv.notify_all();
  }
  worker.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(CpuProfileOf(begin).ByLabels("workload::Leaf", "calls").at("request=r-19"), 19);
}

TEST_F(LabelsTest, TimedModesGiveEachSetItsWallTime) {
  instrument::SetMode(instrument::kModeTiming);
  const runtime::Snapshot begin = runtime::Snapshot::Take();
  int64_t cpu_ns = 0, elapsed_ns = 0;
  std::thread([&] {
    auto now = [](clockid_t c) {
      timespec ts;
      clock_gettime(c, &ts);
      return ts.tv_sec * 1000000000LL + ts.tv_nsec;
    };
    const int64_t cpu0 = now(CLOCK_THREAD_CPUTIME_ID), t0 = now(CLOCK_MONOTONIC);
    {
      LabelScope scope({{"phase", "spin"}});
      workload::Spin(30);
    }
    cpu_ns = now(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    elapsed_ns = now(CLOCK_MONOTONIC) - t0;
  }).join();
  const Decoded p = CpuProfileOf(begin);
  instrument::SetMode(instrument::kModeProfile);
  int64_t wall = 0;  // Every sample of the set: its functions' self time add up to the scope's.
  const int w = p.Index("wall");
  for (const auto& s : p.profile().sample()) {
    if (p.LabelsOf(s) == "phase=spin") wall += s.value(w);
  }
  // The thread ran Spin for at least its CPU time, and the scope lay within the elapsed time.
  EXPECT_GE(wall, cpu_ns * 9 / 10);
  EXPECT_LE(wall, elapsed_ns);
}

TEST_F(LabelsTest, AllocationsCarryTheLabelsOfTheirTime) {
  if (!instrument::HeapSamplerActive()) GTEST_SKIP() << "sanitizer build: malloc is not ours";
  instrument::SetHeapSampleRate(1);
  std::thread([] {
    LabelScope scope({{"tenant", "heap-7"}});
    workload::LeakBytes(100, 1000);
  }).join();
  runtime::ProfileBuilder b(runtime::Symbolizer::Current());
  runtime::BuildHeapProfile(runtime::HeapDelta({}, instrument::HeapBuckets()), 1, "inuse_space",
                            &b);
  instrument::SetHeapSampleRate(512 * 1024);
  const Decoded p(testing::Decode(b.Finish()));
  int64_t bytes = 0;
  const int i = p.Index("inuse_space");
  for (const auto& s : p.profile().sample()) {
    if (p.LabelsOf(s) == "tenant=heap-7") bytes += s.value(i);
  }
  std::thread([] { workload::FreeLeaked(); }).join();
  EXPECT_EQ(bytes, 100000);
}

TEST_F(LabelsTest, LockWaitsCarryTheWaitersLabels) {
  instrument::SetMutexProfileFraction(1);
  int64_t waited = 0;
  std::thread([&] {
    LabelScope scope({{"tenant", "locked-9"}});
    waited = workload::ContendMutex(50);
  }).join();
  runtime::ProfileBuilder b(runtime::Symbolizer::Current());
  runtime::BuildContentionProfile(instrument::ContentionBuckets(instrument::Contention::kMutex),
                                  instrument::Contention::kMutex, &b);
  const Decoded p(testing::Decode(b.Finish()));
  int64_t delay = 0;
  const int i = p.Index("delay");
  for (const auto& s : p.profile().sample()) {
    if (p.LabelsOf(s) == "tenant=locked-9") delay += s.value(i);
  }
  // The wait, as the waiter measured it around the lock call, lies within the recorded one.
  EXPECT_GT(delay, 0);
  EXPECT_LE(delay, waited);
}

// Mode off: no hook records a frame, and a sample's stack is walked; it is grafted under the
// thread's labels.
TEST_F(LabelsTest, WalkedStacksInModeOffCarryTheLabels) {
  ASSERT_EQ(instrument::StartCpuSampling(500), 0);
  instrument::SetMode(instrument::kModeOff);
  const runtime::Snapshot begin = runtime::Snapshot::Take();
  std::thread([] {
    LabelScope scope({{"phase", "walked"}});
    workload::Spin(200);
  }).join();
  const Decoded p = CpuProfileOf(begin);
  instrument::SetMode(instrument::kModeProfile);
  instrument::StopCpuSampling();
  int64_t labelled = 0, spin = 0;
  const int i = p.Index("samples");
  for (const auto& s : p.profile().sample()) {
    if (p.LabelsOf(s) == "phase=walked") labelled += s.value(i);
  }
  for (const auto& [labels, n] : p.ByLabels("workload::", "samples")) spin += n;
  EXPECT_GT(labelled, 0);
  EXPECT_GE(labelled, spin * 9 / 10) << "samples of the labelled thread outside its labels";
}

TEST_F(LabelsTest, BadKeysAreDroppedAndBadValuesMadeValid) {
  const instrument::LabelStats before = instrument::GetLabelStats();
  const Labels labels({{"", "x"},
                       {"pprof::goroutine", "y"},
                       {"thread", "z"},
                       {"bytes", "a\xff\xfe"},
                       {"long", std::string(300, 'v')}});
  const Pairs got = labels.Get();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (std::pair<std::string, std::string>{"bytes", "a\xef\xbf\xbd\xef\xbf\xbd"}));
  EXPECT_EQ(got[1].first, "long");
  EXPECT_EQ(got[1].second.size(), instrument::kMaxLabelBytes);
  const instrument::LabelStats after = instrument::GetLabelStats();
  EXPECT_EQ(after.rejected_keys - before.rejected_keys, 3u);
  EXPECT_EQ(after.sanitized - before.sanitized, 2u);
  // The C entry points take null strings and pops of tokens that entered nothing.
  const char* kv[] = {"c", "1", nullptr, "2", "d", nullptr};
  const int token = hookprof_labels_push(kv, 3);
  EXPECT_EQ(CurrentLabels().Get(), (Pairs{{"c", "1"}}));
  hookprof_labels_pop(token);
  hookprof_labels_pop(0);
  hookprof_labels_pop(12345);
  EXPECT_TRUE(CurrentLabels().empty());
}

// Fills the table of label sets, then makes two more: 0 when they went to the overflow set,
// counted and stated.
int OverflowTwoSets() {
  uint64_t i = 0;
  while (instrument::GetLabelStats().sets < instrument::kMaxLabelSets) {
    Labels({{"n", std::to_string(i++)}});
  }
  const Labels over({{"n", "one too many"}});
  const Labels again({{"n", "two too many"}});
  const Pairs overflow = {{instrument::kOverflowLabelKey, instrument::kOverflowLabelValue}};
  const bool same = over == again && over.Get() == overflow;
  const instrument::LabelStats st = instrument::GetLabelStats();
  const bool counted = st.overflowed == 2 && st.sets == instrument::kMaxLabelSets + 1;
  const bool said = instrument::LabelStatsComment().find("2 label sets past the limit of 10000") !=
                    std::string::npos;
  fprintf(stderr, "same=%d counted=%d said=%d\n", same, counted, said);
  return same && counted && said ? 0 : 1;
}

TEST_F(LabelsTest, SetsPastTheLimitShareTheOverflowSetAndSayIt) {
  // In a child: the limit is the process's for good.
  EXPECT_EXIT(exit(OverflowTwoSets()), ::testing::ExitedWithCode(0), "same=1 counted=1 said=1");
}

}  // namespace
}  // namespace hookprof
