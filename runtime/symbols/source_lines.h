// Source lines of code addresses, from the DWARF of the mapped files, read in-process with
// elfutils' libdw (Debian libdw-dev): the line of an address and the chain of functions
// inlined there, innermost first. Files are opened through /proc/self/map_files, so the code
// that is mapped is the code that is read, even after a deployment replaced the path.
//
// Results are cached across calls (per file, build id and ELF address), so a profile fetched
// every few seconds looks each address up once.
//
// Thread-safety: safe from any thread (one lock around libdw and the cache). Not for hooks or
// signal handlers.
#ifndef HOOKPROF_RUNTIME_SYMBOLS_SOURCE_LINES_H_
#define HOOKPROF_RUNTIME_SYMBOLS_SOURCE_LINES_H_

#include <stdint.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {

struct SourceLine {
  // As the compiler recorded it; Bazel's /proc/self/cwd/ prefix is dropped (the path is then
  // relative to the workspace, where genhtml and pprof -list are run).
  std::string file;
  int64_t line = 0;  // 0: no line information.
};

// One function at an address: the function itself for the outermost frame, a function inlined
// into the next frame otherwise.
struct SourceFrame {
  std::string name;         // Demangled.
  std::string system_name;  // Linkage name as in the symbol table (or the plain name).
  SourceLine line;          // Where this frame is at the address (for an outer frame: the call).
  int64_t start_line = 0;   // The line of the function's declaration, 0 when unknown.
};

// The frames at `address` (a runtime address of this process), innermost first; empty when the
// address is in no mapped ELF file with DWARF line information.
std::shared_ptr<const std::vector<SourceFrame>> LookupSourceFrames(const Symbolizer& symbolizer,
                                                                   uint64_t address);

// GCC's printable name of the function whose code holds `address`, from its DWARF: what GCC's
// -finstrument-functions-exclude-function-list= matches (checked with GCC 12): qualified, without
// parameters, return type or a function template's own arguments, and class template arguments
// without the trailing ones that are defaults ("ns::Buf<ns::Enc<> >::Put" for
// ns::Buf<ns::Enc<char>, ns::Alloc>::Put(char)), "{anonymous}" for anonymous namespaces. Empty
// when the DWARF does not hold enough (none, template parameter packs, a class seen only as a
// declaration).
std::string GccPrintableName(const Symbolizer& symbolizer, uint64_t address);

// Adds to `out` the line of every address in `addresses` that has one (its innermost frame).
// Returns false, with a one-line reason in `error`, only when no lookup could be made at all.
bool ResolveSourceLines(const Symbolizer& symbolizer, const std::vector<uint64_t>& addresses,
                        std::unordered_map<uint64_t, SourceLine>* out, std::string* error);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_SYMBOLS_SOURCE_LINES_H_
