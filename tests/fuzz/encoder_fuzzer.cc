// libFuzzer target: the pprof encoder. The input is read as samples of (address, value) pairs,
// some at this binary's own code, some anywhere; the encoded profile must gunzip and parse,
// and every reference in it (locations, functions, mappings, strings) must resolve.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <string>

#include "runtime/pprof/profile.pb.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/symbolizer.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "encoder_fuzzer: %s\n", what);
    abort();
  }
}

std::string Gunzip(const std::string& in) {
  z_stream z{};
  Check(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK, "inflateInit2");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    Check(rc == Z_OK || rc == Z_STREAM_END, "gzip stream does not inflate");
    out.append(buf, sizeof(buf) - z.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace hr = hookprof::runtime;
  const auto symbolizer = hr::Symbolizer::Current();
  hr::ProfileBuilder b(symbolizer);
  b.AddSampleType("samples", "count");
  b.SetPeriod("cpu", "nanoseconds", 10000000);
  const uintptr_t here = reinterpret_cast<uintptr_t>(&LLVMFuzzerTestOneInput);
  auto& p = b.profile();
  hookprof::pprof::Sample* sample = nullptr;
  for (size_t i = 0; i + 9 <= size; i += 9) {
    uint64_t word;
    memcpy(&word, data + i + 1, sizeof(word));
    const uint8_t op = data[i];
    if (sample == nullptr || (op & 3) == 0) {
      sample = p.add_sample();
      sample->add_value(static_cast<int64_t>(word >> 1));
    }
    if ((op & 3) == 1) {
      sample->add_location_id(b.LocationFor(here + (word & 0xffff) - 0x8000));  // Near code.
    } else if ((op & 3) == 2) {
      sample->add_location_id(b.LocationFor(word));  // Anywhere at all.
    } else if ((op & 3) == 3) {
      sample->add_location_id(
          b.PseudoLocation(std::string(reinterpret_cast<const char*>(data + i), op % 9)));
    }
  }
  if (size > 0 && data[0] & 0x80)
    b.AddComment(std::string(reinterpret_cast<const char*>(data), size));
  hookprof::pprof::Profile q;
  Check(q.ParseFromString(Gunzip(b.Finish())), "profile does not parse");
  const int strings = q.string_table_size();
  Check(strings > 0 && q.string_table(0).empty(), "string table must start with \"\"");
  for (const auto& s : q.sample()) {
    for (uint64_t id : s.location_id())
      Check(id >= 1 && id <= uint64_t(q.location_size()), "bad location id");
  }
  for (const auto& l : q.location()) {
    Check(l.mapping_id() <= uint64_t(q.mapping_size()), "bad mapping id");
    for (const auto& line : l.line()) {
      Check(line.function_id() >= 1 && line.function_id() <= uint64_t(q.function_size()),
            "bad function id");
    }
  }
  for (const auto& f : q.function()) {
    Check(f.name() >= 0 && f.name() < strings && f.system_name() >= 0 &&
              f.system_name() < strings && f.filename() >= 0 && f.filename() < strings,
          "bad string index in function");
  }
  for (const auto& m : q.mapping()) {
    Check(
        m.filename() >= 0 && m.filename() < strings && m.build_id() >= 0 && m.build_id() < strings,
        "bad string index in mapping");
    Check(m.memory_start() <= m.memory_limit(), "mapping ends before it starts");
  }
  for (int64_t c : q.comment()) Check(c >= 0 && c < strings, "bad comment index");
  return 0;
}
