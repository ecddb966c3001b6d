#include "runtime/symbols/symbolizer.h"

#include <ctype.h>
#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "instrument/unload/unload.h"
#include "instrument/xray/elf_file.h"

namespace hookprof {
namespace runtime {
namespace {

// The lines of /proc/self/maps that the symbolizer uses: executable mappings of files. Anonymous
// mappings come and go with every large malloc; they must not make the symbolizer start over.
std::string ReadMaps() {
  std::ifstream in("/proc/self/maps");
  std::string out, line;
  while (std::getline(in, line)) {
    const size_t perms = line.find(' ');
    if (perms == std::string::npos || perms + 3 >= line.size() || line[perms + 3] != 'x') continue;
    if (line.find(" /") == std::string::npos) continue;
    out += line;
    out += '\n';
  }
  return out;
}

std::string Demangle(const char* mangled) {
  int status = 0;
  char* out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) return mangled;
  std::string name(out);
  free(out);
  return name;
}

// A read-only view of an ELF file mapped into memory.
using instrument::ElfFile;

}  // namespace

std::string DebugFileFor(const std::string& build_id) {
  return "/usr/lib/debug/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug";
}

std::shared_ptr<const Symbolizer> Symbolizer::Create() { return CreateAfter(nullptr); }

std::shared_ptr<const Symbolizer> Symbolizer::CreateAfter(const Symbolizer* previous) {
  auto sym = std::shared_ptr<Symbolizer>(new Symbolizer());
  sym->maps_text_ = ReadMaps();
  std::istringstream lines(sym->maps_text_);
  std::string line;
  std::map<std::string, std::unique_ptr<ElfFile>> files;
  while (std::getline(lines, line)) {
    unsigned long long start, limit, offset;
    char perms[5] = {0};
    int path_at = 0;
    if (sscanf(line.c_str(), "%llx-%llx %4s %llx %*s %*s %n", &start, &limit, perms, &offset,
               &path_at) < 4 ||
        path_at <= 0 || perms[2] != 'x') {
      continue;
    }
    std::string path = line.substr(path_at);
    if (path.empty() || path[0] != '/') continue;  // [vdso], anonymous JIT code, ...
    const std::string deleted = " (deleted)";
    if (path.size() > deleted.size() &&
        path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0) {
      path.resize(path.size() - deleted.size());
    }
    auto& elf = files[path];
    if (!elf) {
      // The mapped file itself, through /proc/self: right even when the path now names another
      // file (a binary replaced by a deployment) or none; the path only if that is refused.
      char mapped[80];
      snprintf(mapped, sizeof(mapped), "/proc/self/map_files/%llx-%llx", start, limit);
      elf = std::make_unique<ElfFile>(mapped);
      if (!elf->ok()) elf = std::make_unique<ElfFile>(path);
    }
    Mapping m;
    m.start = start;
    m.limit = limit;
    m.offset = offset;
    m.file = path;
    if (elf->ok()) {
      m.build_id = elf->BuildId();
      // A stripped library's full symbol table (and DWARF) may be installed apart, under its
      // build ID (Debian's -dbg and -dbgsym packages): the name comes from the mapped file.
      const ElfFile* symbols = elf.get();
      std::unique_ptr<ElfFile> debug;
      if (!elf->HasSymtab() && m.build_id.size() > 2) {
        const std::string name = DebugFileFor(m.build_id);
        debug = std::make_unique<ElfFile>(name);
        if (debug->ok() && debug->BuildId() == m.build_id) {
          symbols = debug.get();
          m.debug_file = name;
        }
      }
      uint64_t bias = 0;
      if (elf->LoadBias(start, offset, &bias)) {
        m.load_bias = bias;
        m.has_load_bias = true;
        symbols->ForEachFunction(true, [&](const ElfFile::Function& f) {
          // Keep the symbols of this mapping only: the same file's other segments are not code.
          const uint64_t address = f.value + bias;
          if (address < start || address >= limit) return;
          Symbol s;
          s.address = address;
          s.size = f.size;
          s.mangled.assign(f.name, f.name_length);
          s.global = f.global;
          sym->symbols_.push_back(std::move(s));
        });
      }
    }
    sym->mappings_.push_back(std::move(m));
  }
  std::sort(sym->mappings_.begin(), sym->mappings_.end(),
            [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  if (previous != nullptr) sym->KeepUnloaded(*previous);
  auto& syms = sym->symbols_;
  std::sort(syms.begin(), syms.end(), [](const Symbol& a, const Symbol& b) {
    // Aliases at one address: prefer the global name, then the sized one, then the plain one
    // (GCC adds local aliases such as "f [clone .localalias]").
    if (a.address != b.address) return a.address < b.address;
    if (a.global != b.global) return a.global;
    if (a.size != b.size) return a.size > b.size;
    const bool a_clone = a.mangled.find('.') != std::string::npos;
    const bool b_clone = b.mangled.find('.') != std::string::npos;
    if (a_clone != b_clone) return b_clone;
    return a.mangled < b.mangled;
  });
  syms.erase(std::unique(syms.begin(), syms.end(),
                         [](const Symbol& a, const Symbol& b) { return a.address == b.address; }),
             syms.end());
  for (Symbol& s : syms) s.name = Demangle(s.mangled.c_str());
  return sym;
}

void Symbolizer::KeepUnloaded(const Symbolizer& previous) {
  const size_t mapped = mappings_.size();
  size_t kept = 0;
  for (const Mapping& old : previous.mappings_) {
    bool still = false, taken = false;
    for (size_t i = 0; i < mapped; ++i) {
      const Mapping& m = mappings_[i];
      still |= m.start == old.start && m.limit == old.limit && m.file == old.file;
      taken |= m.start < old.limit && old.start < m.limit;
    }
    if (still || taken || kept == kMaxUnloadedMappings) continue;
    ++kept;
    mappings_.push_back(old);
    mappings_.back().unloaded = true;
    auto first =
        std::lower_bound(previous.symbols_.begin(), previous.symbols_.end(), old.start,
                         [](const Symbol& s, uint64_t address) { return s.address < address; });
    for (; first != previous.symbols_.end() && first->address < old.limit; ++first) {
      symbols_.push_back(*first);
    }
  }
  std::sort(mappings_.begin(), mappings_.end(),
            [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
}

namespace {

// Before a dlclose: the symbolizer of the mappings as they still are.
void TakeBeforeUnload() { Symbolizer::Current(); }

__attribute__((constructor)) void WatchUnloads() {
  instrument::SetBeforeUnloadCallback(&TakeBeforeUnload);
}

}  // namespace

std::shared_ptr<const Symbolizer> Symbolizer::Current() {
  // Function statics: callers may come before this file's initialisers have run.
  static std::mutex mu;
  static std::shared_ptr<const Symbolizer>* cached = new std::shared_ptr<const Symbolizer>();
  std::lock_guard<std::mutex> lock(mu);
  if (*cached == nullptr || (*cached)->maps_text_ != ReadMaps()) {
    *cached = CreateAfter(cached->get());
  }
  return *cached;
}

int Symbolizer::FindMapping(uint64_t address) const {
  auto it = std::upper_bound(mappings_.begin(), mappings_.end(), address,
                             [](uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == mappings_.begin()) return -1;
  --it;
  return address < it->limit ? static_cast<int>(it - mappings_.begin()) : -1;
}

std::string Symbolizer::NameOf(uint64_t address) const {
  if (const Symbol* s = FindSymbol(address)) return s->name;
  char buf[24];
  snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(address));
  return buf;
}

const Symbol* Symbolizer::FindSymbol(uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const Symbol& s) { return a < s.address; });
  if (it == symbols_.begin()) return nullptr;
  --it;
  // A symbol without a size covers up to the next one; a sized one only its own bytes.
  if (it->size != 0 && address >= it->address + it->size) return nullptr;
  if (FindMapping(address) != FindMapping(it->address)) return nullptr;
  return &*it;
}

bool ParseAddressList(const std::string& text, std::vector<uint64_t>* out) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    while (i < n && (text[i] == '+' || text[i] == ' ' || text[i] == '\n' || text[i] == '\r' ||
                     text[i] == '\t')) {
      ++i;
    }
    if (i >= n) break;
    if (i + 1 < n && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X')) i += 2;
    uint64_t v = 0;
    int digits = 0;
    for (; i < n && isxdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
      if (digits >= 16) return false;
      const char c = text[i];
      v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    if (digits == 0) return false;
    if (i < n && text[i] != '+' && text[i] != ' ' && text[i] != '\n' && text[i] != '\r' &&
        text[i] != '\t') {
      return false;
    }
    out->push_back(v);
  }
  return true;
}

std::string LegacyStackText(const std::vector<uintptr_t>& pcs, const Symbolizer& symbolizer) {
  std::string out;
  char buf[40];
  for (uintptr_t pc : pcs) {
    snprintf(buf, sizeof(buf), " 0x%llx", static_cast<unsigned long long>(pc));
    out += buf;
  }
  out += "\n";
  for (uintptr_t pc : pcs) {
    const Symbol* s = symbolizer.FindSymbol(pc);
    snprintf(buf, sizeof(buf), "#\t0x%llx\t", static_cast<unsigned long long>(pc));
    out += buf;
    out += s != nullptr ? s->name : "?";
    snprintf(buf, sizeof(buf), "+0x%llx\n",
             static_cast<unsigned long long>(s != nullptr ? pc - s->address : 0));
    out += buf;
  }
  return out;
}

}  // namespace runtime
}  // namespace hookprof

namespace hookprof {
namespace runtime {

std::string WithoutParameters(const std::string& demangled) {
  std::string n = demangled;
  // GCC's clones: "f(int) [clone .constprop.0]".
  for (size_t c; (c = n.rfind(" [clone ")) != std::string::npos && n.back() == ']';) n.resize(c);
  const size_t close = n.rfind(')');
  if (close == std::string::npos) return n;
  // Only qualifiers may follow the list (" const", " &&", " noexcept").
  for (size_t i = close + 1; i < n.size(); ++i) {
    if (!isalpha(static_cast<unsigned char>(n[i])) && n[i] != ' ' && n[i] != '&') return n;
  }
  size_t open = std::string::npos;
  for (size_t i = close + 1, depth = 0; i-- > 0;) {
    if (n[i] == ')') ++depth;
    if (n[i] == '(' && --depth == 0) {
      open = i;
      break;
    }
  }
  if (open == std::string::npos || open == 0) return n;
  n.resize(open);
  // A function template's return type comes first: drop up to the last space outside brackets.
  // `operator` spellings hold brackets and spaces of their own ("operator<", "operator new").
  size_t start = 0;
  int depth = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    if (n.compare(i, 8, "operator") == 0 && (i == 0 || n[i - 1] == ':' || n[i - 1] == ' ')) {
      i += 8;
      if (i < n.size() && n[i] == ' ') {
        while (i + 1 < n.size() && n[i + 1] != '<' && n[i + 1] != ':') ++i;  // new, int, ...
      } else {
        while (i < n.size() && strchr("<>=!+-*/%^&|~[](),", n[i]) != nullptr) ++i;
        --i;
      }
      continue;
    }
    const char c = n[i];
    if (c == '<' || c == '(' || c == '{' || c == '[') ++depth;
    if (c == '>' || c == ')' || c == '}' || c == ']') --depth;
    if (c == ' ' && depth == 0) start = i + 1;
  }
  return n.substr(start);
}

}  // namespace runtime
}  // namespace hookprof
