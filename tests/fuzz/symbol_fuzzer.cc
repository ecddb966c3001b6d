// libFuzzer target: the symbol protocol's address list ("0xA+0xB+..."), as POSTed to
// /debug/pprof/symbol and /symbolz. Accepted lists must round-trip: every parsed address printed
// back in hex and joined with '+' parses to the same list.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "runtime/symbols/symbolizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<uint64_t> addresses;
  if (!hookprof::runtime::ParseAddressList(input, &addresses)) return 0;
  std::string again;
  char buf[24];
  for (uint64_t a : addresses) {
    snprintf(buf, sizeof(buf), "%s0x%llx", again.empty() ? "" : "+",
             static_cast<unsigned long long>(a));
    again += buf;
  }
  std::vector<uint64_t> reparsed;
  if (!again.empty() &&
      (!hookprof::runtime::ParseAddressList(again, &reparsed) || reparsed != addresses)) {
    fprintf(stderr, "symbol_fuzzer: \"%s\" does not round-trip\n", again.c_str());
    abort();
  }
  // Symbolizing arbitrary addresses must be safe.
  const auto symbolizer = hookprof::runtime::Symbolizer::Current();
  for (uint64_t a : addresses) symbolizer->FindSymbol(a);
  return 0;
}
