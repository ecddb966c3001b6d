#include "tests/own_proto/encode.h"

namespace own {

int64_t Encode(int i) { return RoundTrip(i); }

}  // namespace own
