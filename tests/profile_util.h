// Decoding served profiles as pprof clients do: gunzip, then parse profile.proto.
#ifndef HOOKPROF_TESTS_PROFILE_UTIL_H_
#define HOOKPROF_TESTS_PROFILE_UTIL_H_

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "runtime/pprof/profile.pb.h"

namespace hookprof {
namespace testing {

inline std::string Gunzip(const std::string& in) {
  z_stream zs = {};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = in.size();
  std::string result;
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
    zs.avail_out = out.size();
    rc = inflate(&zs, Z_NO_FLUSH);
    result.append(out.data(), out.size() - zs.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&zs);
  return result;
}

inline hookprof::pprof::Profile Decode(const std::string& gz) {
  hookprof::pprof::Profile p;
  EXPECT_TRUE(p.ParseFromString(Gunzip(gz)));
  return p;
}

}  // namespace testing
}  // namespace hookprof

#endif  // HOOKPROF_TESTS_PROFILE_UTIL_H_
