// Sampled allocation profiling: the interposed allocator behaves as malloc must, and the
// profiles it feeds carry the right magnitudes on the right stacks.
#include <gtest/gtest.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <thread>

#include "instrument/samplers/heap_sampler.h"
#include "runtime/pprof/heap_profile.h"
#include "runtime/symbols/symbolizer.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

// inuse/alloc bytes charged to stacks that contain `fn`.
struct Totals {
  double inuse_bytes = 0, alloc_bytes = 0, inuse_objects = 0;
};
Totals TotalsUnder(uintptr_t fn) {
  Totals t;
  for (const auto& b : instrument::HeapBuckets()) {
    bool under = false;
    if (b.state != nullptr) {
      for (uint32_t n = b.node; n != instrument::kRootNode; n = b.state->nodes[n].parent) {
        under |= b.state->nodes[n].fn == fn;
      }
    }
    if (!under) continue;
    t.inuse_bytes += b.inuse_bytes;
    t.alloc_bytes += b.alloc_bytes;
    t.inuse_objects += b.inuse_objects;
  }
  return t;
}

uintptr_t LeakFn() { return reinterpret_cast<uintptr_t>(&workload::LeakBytes); }

class HeapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!instrument::HeapSamplerActive()) GTEST_SKIP() << "sanitizer build: malloc is not ours";
  }
  void TearDown() override { instrument::SetHeapSampleRate(512 * 1024); }
};

TEST_F(HeapTest, EveryAllocationAtRateOneIsExact) {
  instrument::SetHeapSampleRate(1);
  const Totals before = TotalsUnder(LeakFn());
  std::thread([] { workload::LeakBytes(1000, 1000); }).join();
  Totals after = TotalsUnder(LeakFn());
  EXPECT_DOUBLE_EQ(after.inuse_bytes - before.inuse_bytes, 1000000);
  EXPECT_DOUBLE_EQ(after.inuse_objects - before.inuse_objects, 1000);
  // Freed from another thread than the allocating one.
  std::thread([] { workload::FreeLeaked(); }).join();
  after = TotalsUnder(LeakFn());
  EXPECT_NEAR(after.inuse_bytes, before.inuse_bytes, 1e-6);
  EXPECT_DOUBLE_EQ(after.alloc_bytes - before.alloc_bytes, 1000000);  // History stays.
}

TEST_F(HeapTest, SampledEstimatesAreUnbiased) {
  instrument::SetHeapSampleRate(512 * 1024);
  const Totals before = TotalsUnder(LeakFn());
  // 200 MB in 10,000-byte blocks: about 400 samples, so the estimate is within a few percent.
  std::thread([] {
    for (int round = 0; round < 20; ++round) {
      workload::LeakBytes(1000, 10000);
      workload::FreeLeaked();
    }
  }).join();
  const Totals after = TotalsUnder(LeakFn());
  EXPECT_NEAR(after.alloc_bytes - before.alloc_bytes, 200e6, 200e6 * 0.2);
  EXPECT_NEAR(after.inuse_bytes - before.inuse_bytes, 0, 1);
}

TEST_F(HeapTest, SampledBlocksBehaveAsMallocPromises) {
  instrument::SetHeapSampleRate(1);  // Every block below is a sampled one.
  char* p = static_cast<char*>(malloc(100));
  ASSERT_NE(p, nullptr);
  memset(p, 'x', 100);
  EXPECT_GE(malloc_usable_size(p), 100u);
  p = static_cast<char*>(realloc(p, 10000));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(p[i], 'x');
  free(p);
  int* z = static_cast<int*>(calloc(1000, sizeof(int)));
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(z[i], 0);
  free(z);
  void* a = nullptr;
  ASSERT_EQ(posix_memalign(&a, 4096, 123), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 4096, 0u);
  free(a);
  void* b = aligned_alloc(64, 640);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 64, 0u);
  free(b);
  EXPECT_EQ(posix_memalign(&a, 3, 16), EINVAL);
  EXPECT_EQ(realloc(malloc(10), 0), nullptr);
  auto* s = new std::string(1000, 'y');  // operator new is built on malloc
  EXPECT_EQ((*s)[999], 'y');
  delete s;
}

TEST_F(HeapTest, ProfileHasGoSampleTypesAndDefaults) {
  instrument::SetHeapSampleRate(1);
  std::thread([] { workload::LeakBytes(10, 5000); }).join();
  runtime::ProfileBuilder heap(runtime::Symbolizer::Current());
  runtime::BuildHeapProfile(instrument::HeapBuckets(), 1, "inuse_space", &heap);
  const auto& p = heap.profile();
  ASSERT_EQ(p.sample_type_size(), 4);
  EXPECT_EQ(p.string_table(p.sample_type(0).type()), "alloc_objects");
  EXPECT_EQ(p.string_table(p.sample_type(1).type()), "alloc_space");
  EXPECT_EQ(p.string_table(p.sample_type(2).type()), "inuse_objects");
  EXPECT_EQ(p.string_table(p.sample_type(3).type()), "inuse_space");
  EXPECT_EQ(p.string_table(p.default_sample_type()), "inuse_space");
  const std::string text =
      runtime::HeapText(instrument::HeapBuckets(), 1, *runtime::Symbolizer::Current());
  EXPECT_EQ(text.rfind("heap profile: ", 0), 0u);
  EXPECT_NE(text.find("@ heap_v2/1\n"), std::string::npos);
  EXPECT_NE(text.find("workload::LeakBytes(int, unsigned long)+0x"), std::string::npos);
  std::thread([] { workload::FreeLeaked(); }).join();
}

}  // namespace
}  // namespace hookprof
