// A program that links pprof's profile.proto itself (full runtime, descriptors in protobuf's
// generated pool), profiled by hookprof: it must start, use its own messages and be profiled.
#include <google/protobuf/descriptor.h>

#include <cstdio>
#include <string>

#include "tests/own_proto/encode.h"
#include "tests/own_proto/profile.pb.h"

namespace own {

int64_t RoundTrip(int i) {
  perftools::profiles::Profile p;
  p.add_string_table("");
  p.add_string_table("calls");
  p.set_duration_nanos(i);
  std::string bytes;
  p.SerializeToString(&bytes);
  perftools::profiles::Profile q;
  return q.ParseFromString(bytes) ? q.duration_nanos() : -1;
}

}  // namespace own

int main() {
  int64_t sum = 0;
  for (int i = 0; i < 1000; ++i) sum += own::Encode(i);
  const auto* file =
      google::protobuf::DescriptorPool::generated_pool()->FindFileByName("profile.proto");
  printf("own profile.proto: package %s, %d messages; sum %lld\n",
         file != nullptr ? file->package().c_str() : "(none)",
         file != nullptr ? file->message_type_count() : 0, static_cast<long long>(sum));
  return sum == 499500 ? 0 : 1;
}
