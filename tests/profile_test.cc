// Snapshots, the pprof encoder and the symbolizer, decoded the way clients decode them:
// gunzip, then parse as hookprof.pprof.Profile (pprof's schema).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>

#include "instrument/mode.h"
#include "instrument/state/thread_state.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/pprof/legacy_cpu_profile.h"
#include "runtime/pprof/profile.pb.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/symbolizer.h"
#include "tests/profile_util.h"
#include "tests/test_util.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

using hookprof::pprof::Profile;
using runtime::Snapshot;
using runtime::Symbolizer;
using testing::Addr;
using testing::Decode;
using testing::Gunzip;

const std::string& Str(const Profile& p, int64_t i) { return p.string_table(i); }

std::string FunctionOf(const Profile& p, uint64_t location_id) {
  const auto& loc = p.location(location_id - 1);
  EXPECT_EQ(loc.id(), location_id);
  return Str(p, p.function(loc.line(0).function_id() - 1).name());
}

// Leaf-first function names of each sample, joined by ';', with the sample's calls value.
std::map<std::string, int64_t> CallsByStack(const Profile& p, const std::string& thread) {
  std::map<std::string, int64_t> out;
  for (const auto& s : p.sample()) {
    std::string t;
    for (const auto& l : s.label()) {
      if (Str(p, l.key()) == "thread") t = Str(p, l.str());
    }
    if (t != thread) continue;
    std::string stack;
    for (uint64_t id : s.location_id()) stack += (stack.empty() ? "" : ";") + FunctionOf(p, id);
    out[stack] += s.value(2);
  }
  return out;
}

TEST(SymbolizerTest, NamesFunctionsOfThisBinaryDemangled) {
  auto sym = Symbolizer::Create();
  const runtime::Symbol* s = sym->FindSymbol(Addr(&workload::Middle));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "workload::Middle(int)");
  EXPECT_EQ(s->mangled, "_ZN8workload6MiddleEi");
  EXPECT_EQ(s->address, Addr(&workload::Middle));
  // An address inside the function resolves to it too.
  EXPECT_EQ(sym->FindSymbol(Addr(&workload::Middle) + 1), s);
}

TEST(SymbolizerTest, MapsCodeToItsFileWithBuildId) {
  auto sym = Symbolizer::Create();
  const int m = sym->FindMapping(Addr(&workload::Leaf));
  ASSERT_GE(m, 0);
  const runtime::Mapping& mapping = sym->mappings()[m];
  EXPECT_LE(mapping.start, Addr(&workload::Leaf));
  EXPECT_GT(mapping.limit, Addr(&workload::Leaf));
  EXPECT_NE(mapping.file.find("profile_test"), std::string::npos) << mapping.file;
  EXPECT_EQ(mapping.build_id.size(), 40u) << mapping.build_id;  // SHA-1 build ID in hex.
  EXPECT_EQ(sym->FindMapping(0x10), -1);
}

TEST(ProfileBuilderTest, StringsThatAreNotUtf8AreMadeValid) {
  // Thread names and file paths are arbitrary bytes; proto3 readers want UTF-8 strings.
  runtime::ProfileBuilder b(runtime::Symbolizer::Current());
  b.AddComment(std::string("thread \xff\xc0\x80 name \xed\xa0\x80"));
  b.AddComment("caf\xc3\xa9 \xf0\x9f\x94\xa5");
  const Profile p = Decode(b.Finish());
  ASSERT_EQ(p.comment_size(), 2);
  EXPECT_EQ(p.string_table(p.comment(0)),
            "thread \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd name "
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(p.string_table(p.comment(1)), "caf\xc3\xa9 \xf0\x9f\x94\xa5");  // Valid: kept.
}

TEST(SymbolizerTest, ParsesPprofSymbolBodies) {
  std::vector<uint64_t> a;
  EXPECT_TRUE(runtime::ParseAddressList("0x10+0x2f+ABC", &a));
  EXPECT_EQ(a, (std::vector<uint64_t>{0x10, 0x2f, 0xabc}));
  a.clear();
  EXPECT_TRUE(runtime::ParseAddressList("", &a));
  EXPECT_TRUE(a.empty());
  EXPECT_FALSE(runtime::ParseAddressList("0x10+zz", &a));
  EXPECT_FALSE(runtime::ParseAddressList("0x+1", &a));
  EXPECT_FALSE(runtime::ParseAddressList("0x11111111111111111", &a));  // 17 digits.
}

class CpuProfileTest : public ::testing::Test {
 protected:
  Profile BuildWindow(const std::function<void()>& work) {
    const Snapshot begin = Snapshot::Take();
    std::thread t([&] {
      pthread_setname_np(pthread_self(), "profiled");
      work();
    });
    t.join();
    const Snapshot end = Snapshot::Take();
    runtime::ProfileBuilder b(Symbolizer::Current());
    runtime::BuildCpuProfile(Snapshot::Delta(begin, end), 1000, 10000000, &b);
    return Decode(b.Finish());
  }
};

TEST_F(CpuProfileTest, HasGoSampleTypesAndMetadata) {
  const Profile p = BuildWindow([] { workload::Middle(3); });
  ASSERT_EQ(p.sample_type_size(), 3);
  EXPECT_EQ(Str(p, 0), "");
  EXPECT_EQ(Str(p, p.sample_type(0).type()), "samples");
  EXPECT_EQ(Str(p, p.sample_type(0).unit()), "count");
  EXPECT_EQ(Str(p, p.sample_type(1).type()), "cpu");
  EXPECT_EQ(Str(p, p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(Str(p, p.sample_type(2).type()), "calls");
  EXPECT_EQ(Str(p, p.default_sample_type()), "cpu");
  EXPECT_EQ(Str(p, p.period_type().type()), "cpu");
  EXPECT_EQ(p.period(), 10000000);
  EXPECT_EQ(p.duration_nanos(), 1000);
  EXPECT_GT(p.time_nanos(), 0);
  ASSERT_GE(p.mapping_size(), 1);
  for (const auto& m : p.mapping()) {
    EXPECT_TRUE(m.has_functions());
    EXPECT_LT(m.memory_start(), m.memory_limit());
  }
}

TEST_F(CpuProfileTest, SaysWhenRecordingWasOffSoNoCallsIsNotAMystery) {
  const auto has_off_comment = [](const Profile& p) {
    for (int64_t c : p.comment()) {
      if (Str(p, c).find("mode off at the window's end") != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_FALSE(has_off_comment(BuildWindow([] { workload::Middle(3); })));
  instrument::SetMode(instrument::kModeOff);
  const Profile off = BuildWindow([] { workload::Middle(3); });
  instrument::SetMode(instrument::kModeProfile);
  EXPECT_TRUE(has_off_comment(off));
}

TEST_F(CpuProfileTest, CountsExactCallsPerStackOnlyInTheWindow) {
  workload::Middle(50);  // Before the window, on this thread: not in the profile.
  const Profile p = BuildWindow([] {
    workload::Outer(2, 3);
    workload::Leaf();
  });
  const auto stacks = CallsByStack(p, "profiled");
  // The test's own frames may sit above the workload when it is instrumented: match suffixes.
  std::map<std::string, int64_t> workload_only;
  for (const auto& [stack, calls] : stacks) {
    std::string s = stack;
    const size_t first = s.find("workload::");
    if (first == std::string::npos) continue;
    // Cut off frames after the outermost workload frame.
    std::string kept;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t next = s.find(';', pos);
      if (next == std::string::npos) next = s.size();
      const std::string f = s.substr(pos, next - pos);
      if (f.compare(0, 10, "workload::") != 0) break;
      kept += (kept.empty() ? "" : ";") + f;
      pos = next + 1;
    }
    workload_only[kept] += calls;
  }
  EXPECT_EQ(workload_only["workload::Outer(int, int)"], 1);
  EXPECT_EQ(workload_only["workload::Middle(int);workload::Outer(int, int)"], 2);
  EXPECT_EQ(workload_only["workload::Leaf();workload::Middle(int);workload::Outer(int, int)"], 6);
  EXPECT_EQ(workload_only["workload::Leaf()"], 1);
  for (const auto& s : p.sample()) {
    bool has_tid = false;
    for (const auto& l : s.label()) has_tid |= Str(p, l.key()) == "tid" && l.num() > 0;
    EXPECT_TRUE(has_tid);
  }
}

TEST_F(CpuProfileTest, EncodesNodeSamplesAsCountAndCpuNanoseconds) {
  // The sampler is tested on its own (cpu_sampler_test): set a node's samples directly.
  const Snapshot begin = Snapshot::Take();
  const instrument::ThreadState* s = testing::RunOnNewThread([] { workload::Leaf(); });
  const int64_t leaf = testing::FindPath(s, {Addr(&workload::Leaf)});
  ASSERT_GT(leaf, 0);
  auto* node = const_cast<instrument::Node*>(&s->nodes[leaf]);
  __atomic_store_n(&node->samples, 7, __ATOMIC_RELAXED);
  runtime::ProfileBuilder b(Symbolizer::Current());
  runtime::BuildCpuProfile(Snapshot::Delta(begin, Snapshot::Take()), 1, 10000000, &b);
  const Profile p = Decode(b.Finish());
  int64_t samples = 0, cpu = 0;
  for (const auto& smp : p.sample()) {
    if (FunctionOf(p, smp.location_id(0)) == "workload::Leaf()") {
      samples += smp.value(0);
      cpu += smp.value(1);
    }
  }
  EXPECT_EQ(samples, 7);
  EXPECT_EQ(cpu, 7 * 10000000);
}

TEST(LegacyCpuProfileTest, WritesHeaderRecordsTrailerAndMaps) {
  const Snapshot begin = Snapshot::Take();
  const instrument::ThreadState* s = testing::RunOnNewThread([] { workload::Middle(1); });
  const int64_t leaf = testing::FindPath(s, {Addr(&workload::Middle), Addr(&workload::Leaf)});
  ASSERT_GT(leaf, 0);
  __atomic_store_n(&const_cast<instrument::Node*>(&s->nodes[leaf])->samples, 3, __ATOMIC_RELAXED);
  const std::string out =
      runtime::EncodeLegacyCpuProfile(Snapshot::Delta(begin, Snapshot::Take()), 10000000);
  const auto* w = reinterpret_cast<const uintptr_t*>(out.data());
  EXPECT_EQ(w[0], 0u);
  EXPECT_EQ(w[1], 3u);
  EXPECT_EQ(w[2], 0u);
  EXPECT_EQ(w[3], 10000u);  // Microseconds.
  EXPECT_EQ(w[5], 3u);      // First record: count 3 ...
  ASSERT_GE(w[6], 2u);      // ... of a stack with Leaf first and Middle (+1) next.
  EXPECT_EQ(w[7], Addr(&workload::Leaf));
  EXPECT_EQ(w[8], Addr(&workload::Middle) + 1);
  EXPECT_NE(out.find("r-xp"), std::string::npos);  // The maps text follows the trailer.
}

}  // namespace
}  // namespace hookprof
