#include "runtime/symbols/source_lines.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "runtime/symbols/gcc_name.h"

namespace hookprof {
namespace runtime {
namespace {

// Bounds on what the cache keeps: addresses per file and files (a program that dlopens and
// dlcloses forever must not grow it forever).
constexpr size_t kMaxAddressesPerFile = 1 << 20;
constexpr size_t kMaxFiles = 256;

using Frames = std::vector<SourceFrame>;

struct CuRange {
  uint64_t low, high;  // [low, high) in ELF addresses.
  Dwarf_Off cu;        // Offset of the compile unit's DIE.
};

struct DwarfFile {
  int fd = -1;
  Dwarf* dwarf = nullptr;  // nullptr: the file has no DWARF.
  // Every compile unit's address ranges, sorted: clang writes no .debug_aranges (what libdw's
  // dwarf_addrdie reads), so the index is built from the units themselves, once per file.
  std::vector<CuRange> ranges;
  std::unordered_map<uint64_t, std::shared_ptr<const Frames>> cache;  // ELF address -> frames
};

std::mutex& Mutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

// (file, build id, load bias) -> the open file. Never destroyed: connection threads may still
// use it while the program exits.
std::map<std::tuple<std::string, std::string, uint64_t>, DwarfFile>& Files() {
  static auto* files = new std::map<std::tuple<std::string, std::string, uint64_t>, DwarfFile>;
  return *files;
}

const std::shared_ptr<const Frames>& NoFrames() {
  static auto* none = new std::shared_ptr<const Frames>(std::make_shared<const Frames>());
  return *none;
}

// Bazel maps the build directory to /proc/self/cwd in debug info, which would name the reader's
// own directory: such paths are kept relative to the workspace instead.
std::string CleanPath(const char* path) {
  if (path == nullptr) return std::string();
  constexpr char kBuildDir[] = "/proc/self/cwd/";
  std::string p(path);
  if (p.compare(0, sizeof(kBuildDir) - 1, kBuildDir) == 0) p.erase(0, sizeof(kBuildDir) - 1);
  return p;
}

std::string Demangle(const std::string& mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || d == nullptr) return mangled;
  std::string out(d);
  free(d);
  return out;
}

// `name` with the namespaces and classes around the declaration of `die` ("ns::Class::name"), for
// functions that DWARF names without a linkage name (internal linkage, inlined).
std::string QualifiedName(Dwarf_Die* die, const char* name) {
  Dwarf_Die decl = DeclarationOf(die);
  std::string out = name;
  Dwarf_Die* scopes = nullptr;
  const int n = dwarf_getscopes_die(&decl, &scopes);
  for (int i = 1; i < n; ++i) {  // scopes[0] is the declaration itself.
    const int tag = dwarf_tag(&scopes[i]);
    if (tag != DW_TAG_namespace && tag != DW_TAG_class_type && tag != DW_TAG_structure_type) {
      continue;
    }
    const char* scope = dwarf_diename(&scopes[i]);
    out =
        std::string(scope != nullptr && *scope != 0 ? scope : "(anonymous namespace)") + "::" + out;
  }
  free(scopes);
  return out;
}

// The line where a function is defined: its own DW_AT_decl_line, else that of the declaration it
// refers to when that is in the file of its code (GCC), else the line of its entry address (clang
// refers to a declaration in a header and gives the definition no line of its own).
int64_t StartLine(Dwarf_Die* cu, Dwarf_Die* die) {
  Dwarf_Attribute attr;
  Dwarf_Word own = 0;
  if (dwarf_formudata(dwarf_attr(die, DW_AT_decl_line, &attr), &own) == 0 && own > 0) {
    return static_cast<int64_t>(own);
  }
  int declared = 0;
  if (dwarf_decl_line(die, &declared) != 0) declared = 0;
  Dwarf_Addr entry = 0;
  if (dwarf_tag(die) != DW_TAG_subprogram || dwarf_lowpc(die, &entry) != 0) return declared;
  Dwarf_Line* l = dwarf_getsrc_die(cu, entry);
  int line = 0;
  if (l == nullptr || dwarf_lineno(l, &line) != 0 || line <= 0) return declared;
  const char* body_file = dwarf_linesrc(l, nullptr, nullptr);
  const char* decl_file = dwarf_decl_file(die);
  if (declared > 0 && body_file != nullptr && decl_file != nullptr &&
      strcmp(body_file, decl_file) == 0) {
    return declared;
  }
  return line;
}

// Names of a subprogram or inlined subroutine, following abstract origins and specifications.
void NameOf(Dwarf_Die* cu, Dwarf_Die* die, SourceFrame* f) {
  Dwarf_Attribute attr;
  const char* linkage = nullptr;
  if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) != nullptr ||
      dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr) != nullptr) {
    linkage = dwarf_formstring(&attr);
  }
  const char* plain = nullptr;
  if (dwarf_attr_integrate(die, DW_AT_name, &attr) != nullptr) plain = dwarf_formstring(&attr);
  if (linkage != nullptr) {
    f->system_name = linkage;
    f->name = Demangle(linkage);
  } else if (plain != nullptr) {
    f->system_name = f->name = QualifiedName(die, plain);
  } else {
    f->system_name = f->name = "??";
  }
  f->start_line = StartLine(cu, die);
}

// The call site recorded on an inlined subroutine: where, in the function it was inlined into,
// the call was.
SourceLine CallSiteOf(Dwarf_Die* cu, Dwarf_Die* inlined) {
  SourceLine out;
  Dwarf_Attribute attr;
  Dwarf_Word file = 0, line = 0;
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &file) == 0) {
    Dwarf_Files* files = nullptr;
    size_t count = 0;
    if (dwarf_getsrcfiles(cu, &files, &count) == 0 && file < count) {
      out.file = CleanPath(dwarf_filesrc(files, file, nullptr, nullptr));
    }
  }
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &line) == 0) {
    out.line = static_cast<int64_t>(line);
  }
  return out;
}

void IndexUnits(DwarfFile* f) {
  Dwarf_Off offset = 0, next = 0;
  size_t header = 0;
  while (dwarf_nextcu(f->dwarf, offset, &next, &header, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    if (dwarf_offdie(f->dwarf, offset + header, &cu) != nullptr) {
      Dwarf_Addr base = 0, low = 0, high = 0;
      for (ptrdiff_t r = 0; (r = dwarf_ranges(&cu, r, &base, &low, &high)) > 0;) {
        if (high > low) f->ranges.push_back({low, high, offset + header});
      }
    }
    offset = next;
  }
  std::sort(f->ranges.begin(), f->ranges.end(),
            [](const CuRange& a, const CuRange& b) { return a.low < b.low; });
}

// The compile unit holding `elf_address`.
bool FindUnit(const DwarfFile& f, uint64_t elf_address, Dwarf_Die* cu) {
  auto it = std::upper_bound(f.ranges.begin(), f.ranges.end(), elf_address,
                             [](uint64_t a, const CuRange& r) { return a < r.low; });
  // Ranges of different units do not overlap, but a unit may have many: look back a little.
  for (int back = 0; back < 8 && it != f.ranges.begin(); ++back) {
    --it;
    if (elf_address >= it->low && elf_address < it->high) {
      return dwarf_offdie(f.dwarf, it->cu, cu) != nullptr;
    }
  }
  return false;
}

// The DIEs whose code holds `pc` under `parent`, outermost first: functions, inlined calls and
// blocks, looked for through namespaces and classes. Written here rather than taken from
// dwarf_getscopes, which gives up on clang's DWARF 5 units ("no address value") and stops at an
// inlined function's abstract definition.
bool ScopesAt(Dwarf_Die* parent, uint64_t pc, int depth, std::vector<Dwarf_Die>* chain) {
  Dwarf_Die child;
  if (depth > 64 || dwarf_child(parent, &child) != 0) return false;
  do {
    switch (dwarf_tag(&child)) {
      case DW_TAG_subprogram:
      case DW_TAG_inlined_subroutine:
      case DW_TAG_lexical_block:
        if (dwarf_haspc(&child, pc) == 1) {
          chain->push_back(child);
          ScopesAt(&chain->back(), pc, depth + 1, chain);
          return true;
        }
        break;
      case DW_TAG_namespace:
      case DW_TAG_class_type:
      case DW_TAG_structure_type:
      case DW_TAG_union_type:
        if (ScopesAt(&child, pc, depth + 1, chain)) return true;
        break;
      default:
        break;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return false;
}

Frames Resolve(const DwarfFile& file, uint64_t elf_address) {
  Frames frames;
  Dwarf_Die cu;
  if (!FindUnit(file, elf_address, &cu)) return frames;
  SourceLine here;
  if (Dwarf_Line* line = dwarf_getsrc_die(&cu, elf_address)) {
    here.file = CleanPath(dwarf_linesrc(line, nullptr, nullptr));
    int number = 0;
    if (dwarf_lineno(line, &number) == 0 && number > 0) here.line = number;
  }
  std::vector<Dwarf_Die> chain;  // Outermost first.
  ScopesAt(&cu, elf_address, 0, &chain);
  for (size_t k = chain.size(); k-- > 0;) {
    const int tag = dwarf_tag(&chain[k]);
    if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine) continue;
    SourceFrame f;
    NameOf(&cu, &chain[k], &f);
    f.line = here;
    frames.push_back(std::move(f));
    if (tag == DW_TAG_subprogram) break;
    here = CallSiteOf(&cu, &chain[k]);  // The next frame out is at the inlined call.
  }
  if (frames.empty() && here.line != 0) {
    // Lines without a function DIE (assembly, some startup code): one unnamed frame.
    SourceFrame f;
    f.line = here;
    frames.push_back(std::move(f));
  }
  return frames;
}

// The open file behind `mapping` (mutex held).
DwarfFile& FileFor(const Mapping& mapping) {
  auto key = std::make_tuple(mapping.file, mapping.build_id, mapping.load_bias);
  auto it = Files().find(key);
  if (it != Files().end()) return it->second;
  if (Files().size() >= kMaxFiles) {
    for (auto& [k, f] : Files()) {
      if (f.dwarf != nullptr) dwarf_end(f.dwarf);
      if (f.fd >= 0) close(f.fd);
    }
    Files().clear();
    ForgetGccNames();  // Its cache is keyed by addresses in the files' data.
  }
  DwarfFile& f = Files()[key];
  char mapped[96];
  snprintf(mapped, sizeof(mapped), "/proc/self/map_files/%llx-%llx",
           static_cast<unsigned long long>(mapping.start),
           static_cast<unsigned long long>(mapping.limit));
  // The mapped file's own DWARF, else its separate debug file's (the symbolizer found it by
  // build ID): same addresses either way.
  for (const std::string& path : {std::string(mapped), mapping.debug_file}) {
    if (path.empty()) continue;
    f.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd < 0) continue;
    f.dwarf = dwarf_begin(f.fd, DWARF_C_READ);
    if (f.dwarf != nullptr) break;
    close(f.fd);
    f.fd = -1;
  }
  if (f.dwarf != nullptr) IndexUnits(&f);
  return f;
}

}  // namespace

std::shared_ptr<const std::vector<SourceFrame>> LookupSourceFrames(const Symbolizer& symbolizer,
                                                                   uint64_t address) {
  const int m = symbolizer.FindMapping(address);
  if (m < 0 || !symbolizer.mappings()[m].has_load_bias) return NoFrames();
  const Mapping& mapping = symbolizer.mappings()[m];
  const uint64_t elf_address = address - mapping.load_bias;
  std::lock_guard<std::mutex> lock(Mutex());
  DwarfFile& f = FileFor(mapping);
  if (f.dwarf == nullptr) return NoFrames();
  auto it = f.cache.find(elf_address);
  if (it != f.cache.end()) return it->second;
  if (f.cache.size() >= kMaxAddressesPerFile) f.cache.clear();
  Frames frames = Resolve(f, elf_address);
  auto shared = frames.empty() ? NoFrames() : std::make_shared<const Frames>(std::move(frames));
  f.cache.emplace(elf_address, shared);
  return shared;
}

std::string GccPrintableName(const Symbolizer& symbolizer, uint64_t address) {
  const int m = symbolizer.FindMapping(address);
  if (m < 0 || !symbolizer.mappings()[m].has_load_bias) return "";
  const Mapping& mapping = symbolizer.mappings()[m];
  const uint64_t elf_address = address - mapping.load_bias;
  std::lock_guard<std::mutex> lock(Mutex());
  DwarfFile& f = FileFor(mapping);
  Dwarf_Die cu;
  if (f.dwarf == nullptr || !FindUnit(f, elf_address, &cu)) return "";
  std::vector<Dwarf_Die> chain;  // Outermost first: the function whose code this is.
  ScopesAt(&cu, elf_address, 0, &chain);
  return chain.empty() || dwarf_tag(&chain[0]) != DW_TAG_subprogram ? "" : GccNameOfDie(&chain[0]);
}

bool ResolveSourceLines(const Symbolizer& symbolizer, const std::vector<uint64_t>& addresses,
                        std::unordered_map<uint64_t, SourceLine>* out, std::string* error) {
  for (uint64_t a : addresses) {
    auto frames = LookupSourceFrames(symbolizer, a);
    if (!frames->empty() && frames->front().line.line != 0) (*out)[a] = frames->front().line;
  }
  return true;
}

}  // namespace runtime
}  // namespace hookprof
