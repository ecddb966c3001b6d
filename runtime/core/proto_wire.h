// The protobuf wire format, written by hand where messages must stream out one by one (a
// Perfetto trace is a sequence of TracePacket fields, never one message held whole).
//
// Thread-safety: pure functions on the caller's string.
#ifndef HOOKPROF_RUNTIME_CORE_PROTO_WIRE_H_
#define HOOKPROF_RUNTIME_CORE_PROTO_WIRE_H_

#include <stdint.h>

#include <string>

namespace hookprof {
namespace runtime {
namespace wire {

enum WireType : int { kVarint = 0, kLengthDelimited = 2 };

inline void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

inline void Key(std::string* out, int field, WireType type) {
  Varint(out, (uint64_t(field) << 3) | type);
}

// An unsigned integer field (uint32, uint64, int32 >= 0, enum).
inline void Uint(std::string* out, int field, uint64_t v) {
  Key(out, field, kVarint);
  Varint(out, v);
}

// A bytes, string or embedded-message field.
inline void Len(std::string* out, int field, const std::string& bytes) {
  Key(out, field, kLengthDelimited);
  Varint(out, bytes.size());
  out->append(bytes);
}

}  // namespace wire
}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_CORE_PROTO_WIRE_H_
