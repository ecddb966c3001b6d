// A user's performance test: exact counts asserted with hookprof/testing.h, which is all it
// links of hookprof.
#include <cstdint>
#include <vector>

#include "hookprof/testing.h"

namespace consumer {

__attribute__((noinline)) uint64_t Checksum(uint64_t x) { return x * 131 + 3; }

__attribute__((noinline)) uint64_t Validate(const std::vector<uint64_t>& fields) {
  uint64_t h = 0;
  for (uint64_t f : fields) h ^= Checksum(f);
  return h;
}

}  // namespace consumer

TEST(ConsumerCounts, ValidateChecksumsEachFieldOnceWithoutAllocating) {
  const std::vector<uint64_t> fields(12, 7);
  hookprof::testing::Recorder r;
  EXPECT_NE(consumer::Validate(fields), 1u);
  r.Stop();
  EXPECT_EQ(r.Calls("consumer::Checksum"), 12u);
  EXPECT_THAT(r.Calls("consumer::Validate"), testing::Le(1));
  EXPECT_NO_ALLOCATIONS(r);
}
