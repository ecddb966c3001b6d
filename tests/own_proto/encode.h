// The instrumented part of the own-proto program: one call per message round trip, and nothing
// of the C++ library (clang's -finstrument-functions hooks library functions that libstdc++ 12
// only inlines, and the link then wants them out of line).
#ifndef HOOKPROF_TESTS_OWN_PROTO_ENCODE_H_
#define HOOKPROF_TESTS_OWN_PROTO_ENCODE_H_

#include <stdint.h>

namespace own {

// Encodes a Profile of the program's own proto with duration_nanos = i and decodes it.
int64_t Encode(int i);
// The round trip itself (program.cc).
int64_t RoundTrip(int i);

}  // namespace own

#endif  // HOOKPROF_TESTS_OWN_PROTO_ENCODE_H_
