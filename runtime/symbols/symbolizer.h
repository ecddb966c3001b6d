// Maps code addresses of this process to mappings (for pprof's Mapping table) and to function
// names, from /proc/self/maps and the ELF symbol tables of the mapped files (or of their separate
// debug files, found by build ID, for stripped libraries such as libc).
//
// Names are demangled with the C++ ABI's demangler (abi::__cxa_demangle); the mangled name is
// kept as pprof's system_name. Build IDs come from the files' GNU build-id notes, so pprof can
// match the binary a user passes to -list/-disasm.
//
// Thread-safety: a Symbolizer is immutable after Create(); share it freely. Not for hooks or
// signal handlers (it allocates and reads files).
#ifndef HOOKPROF_RUNTIME_SYMBOLS_SYMBOLIZER_H_
#define HOOKPROF_RUNTIME_SYMBOLS_SYMBOLIZER_H_

#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

namespace hookprof {
namespace runtime {

struct Mapping {
  uint64_t start = 0;  // Runtime address range [start, limit) of an executable mapping.
  uint64_t limit = 0;
  uint64_t offset = 0;  // File offset of `start`.
  std::string file;
  std::string build_id;  // Lower-case hex, empty when the file has none.
  // Runtime address minus ELF virtual address (what DWARF tools such as addr2line take).
  uint64_t load_bias = 0;
  bool has_load_bias = false;
  // The file's separate debug file (symbols, DWARF) when the file itself is stripped and one is
  // installed under its build ID, else empty.
  std::string debug_file;
  // No longer mapped (dlclose): kept, with its symbols, for the calls recorded while it was.
  bool unloaded = false;
};

// Where Debian installs the separate debug file of an ELF file with this build ID (lower-case
// hex): /usr/lib/debug/.build-id/xx/yyyy.debug. Derived from the mapped file, never a request.
std::string DebugFileFor(const std::string& build_id);

struct Symbol {
  uint64_t address = 0;  // Runtime address of the function's first instruction.
  uint64_t size = 0;
  std::string name;     // Demangled.
  std::string mangled;  // As in the symbol table.
  bool global = false;  // Binding other than local.
};

// A demangled name as code names the function: without its parameter list and qualifiers
// ("acme::Mid(int) const" -> "acme::Mid", "f()::{lambda()#1}::operator()() const" ->
// "f()::{lambda()#1}::operator()"); a name without one comes back as it is.
std::string WithoutParameters(const std::string& demangled);

class Symbolizer {
 public:
  // Reads the current process's executable mappings and their symbol tables.
  static std::shared_ptr<const Symbolizer> Create();
  // Returns a symbolizer for the current process, reusing the last one while the process's
  // mappings are unchanged (a dlopen or dlclose makes a new one). Libraries unloaded since the
  // last one keep their mappings and names (marked unloaded) until another mapping takes their
  // addresses; every dlclose takes one first (instrument/unload/unload.h), so even a library loaded
  // and unloaded between two profiles keeps its names. At most kMaxUnloadedMappings are kept.
  static std::shared_ptr<const Symbolizer> Current();
  static constexpr size_t kMaxUnloadedMappings = 1024;

  // Index into mappings() of the mapping holding `address`, or -1.
  int FindMapping(uint64_t address) const;
  // The function containing `address`, or nullptr.
  const Symbol* FindSymbol(uint64_t address) const;
  // The name of the function holding `address`, else the address itself ("0x4011a0").
  std::string NameOf(uint64_t address) const;

  const std::vector<Mapping>& mappings() const { return mappings_; }
  // Every function symbol of every mapping, by address.
  const std::vector<Symbol>& symbols() const { return symbols_; }
  size_t num_symbols() const { return symbols_.size(); }

 private:
  std::vector<Mapping> mappings_;  // Sorted by start.
  std::vector<Symbol> symbols_;    // Sorted by address.
  std::string maps_text_;          // /proc/self/maps as read, to notice changes.

  // Create, then carries over `previous`'s mappings that are no longer mapped and whose
  // addresses nothing else took.
  static std::shared_ptr<const Symbolizer> CreateAfter(const Symbolizer* previous);
  void KeepUnloaded(const Symbolizer& previous);
};

// Parses "0x1234+0x5678" (the pprof symbol protocol's body; '+' or whitespace separated,
// 0x optional). Returns false on anything that is not a hexadecimal address.
bool ParseAddressList(const std::string& text, std::vector<uint64_t>* out);

// One stack in Go's legacy texts: " 0xPC 0xPC ...\n", then "#\t0xPC\tname+0xOFF\n" per frame.
std::string LegacyStackText(const std::vector<uintptr_t>& pcs, const Symbolizer& symbolizer);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_SYMBOLS_SYMBOLIZER_H_
