// Source lines of code addresses, from DWARF, through binutils' addr2line (Debian binutils):
// one child process per mapped file per call, fed every address at once, results cached.
//
// Thread-safety: safe from any thread (the cache has a lock). Not for hooks or signal handlers.
#ifndef HOOKPROF_RUNTIME_SOURCE_LINES_H_
#define HOOKPROF_RUNTIME_SOURCE_LINES_H_

#include <stdint.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/symbolizer.h"

namespace hookprof {
namespace runtime {

struct SourceLine {
  // As the compiler recorded it; Bazel's /proc/self/cwd/ prefix is dropped (the path is then
  // relative to the workspace, where genhtml and pprof -list are run).
  std::string file;
  int64_t line = 0;  // 0: no line information.
};

// Adds to `out` the line of every address in `addresses` that lies in a mapped ELF file.
// Returns false, with a one-line reason in `error`, when addr2line could not be run.
bool ResolveSourceLines(const Symbolizer& symbolizer, const std::vector<uint64_t>& addresses,
                        std::unordered_map<uint64_t, SourceLine>* out, std::string* error);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_SOURCE_LINES_H_
