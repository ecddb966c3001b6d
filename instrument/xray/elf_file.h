// An ELF64 file mapped read-only, every access bounds-checked: build ID, load bias, sections
// by name, function symbols. The one ELF reader, shared by the symbolizer (runtime/symbols:
// names, mappings, build IDs) and the XRay backend (xray.cc: the sled section and
// compiler-rt's entry points in the executable).
//
// Thread-safety: immutable after construction. Not for hooks or signal handlers (it opens and
// maps files); never instrumented.
#ifndef HOOKPROF_INSTRUMENT_XRAY_ELF_FILE_H_
#define HOOKPROF_INSTRUMENT_XRAY_ELF_FILE_H_

#include <elf.h>
#include <stdint.h>
#include <string.h>

#include <string>

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {

class ElfFile {
 public:
  // Maps `path` (a /proc/self/map_files entry, /proc/self/exe or a file); ok() is false if it
  // cannot be read or is not a 64-bit ELF file.
  HOOKPROF_NO_INSTRUMENT explicit ElfFile(const std::string& path);
  HOOKPROF_NO_INSTRUMENT ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  bool ok() const { return data_ != nullptr; }
  HOOKPROF_NO_INSTRUMENT bool HasSymtab() const;
  // The GNU build ID in lower-case hex, "" when there is none.
  HOOKPROF_NO_INSTRUMENT std::string BuildId() const;
  // Load bias of the mapping [start, ...) at file offset `offset`: runtime = vaddr + bias.
  HOOKPROF_NO_INSTRUMENT bool LoadBias(uint64_t start, uint64_t offset, uint64_t* bias) const;
  // The section named `name`, or nullptr.
  HOOKPROF_NO_INSTRUMENT const Elf64_Shdr* Section(const char* name) const;

  struct Function {
    uint64_t value;  // Link-time address (add the load bias).
    uint64_t size;
    const char* name;  // Inside the file; `name_length` bytes, terminated inside its table.
    size_t name_length;
    bool global;  // Binding other than local.
  };
  // Calls visit(const Function&) for each defined function symbol of .symtab, or of .dynsym
  // when the file has no .symtab and `dynsym_when_stripped`.
  template <typename Visit>
  HOOKPROF_NO_INSTRUMENT void ForEachFunction(bool dynsym_when_stripped, const Visit& visit) const;

 private:
  const Elf64_Ehdr* header() const { return reinterpret_cast<const Elf64_Ehdr*>(data_); }
  template <typename T>
  const T* At(uint64_t offset, uint64_t count = 1) const {
    if (offset > size_ || count * sizeof(T) > size_ - offset) return nullptr;
    return reinterpret_cast<const T*>(data_ + offset);
  }
  const Elf64_Phdr* phdrs() const { return At<Elf64_Phdr>(header()->e_phoff, header()->e_phnum); }
  const Elf64_Shdr* shdrs() const { return At<Elf64_Shdr>(header()->e_shoff, header()->e_shnum); }

  const char* data_ = nullptr;
  uint64_t size_ = 0;
};

template <typename Visit>
void ElfFile::ForEachFunction(bool dynsym_when_stripped, const Visit& visit) const {
  const Elf64_Shdr* sh = ok() ? shdrs() : nullptr;
  if (sh == nullptr) return;
  const int n = header()->e_shnum;
  int table = -1;
  for (int i = 0; i < n; ++i) {
    if (sh[i].sh_type == SHT_SYMTAB) table = i;
  }
  for (int i = 0; table < 0 && dynsym_when_stripped && i < n; ++i) {
    if (sh[i].sh_type == SHT_DYNSYM) table = i;
  }
  if (table < 0 || sh[table].sh_link >= static_cast<uint32_t>(n)) return;
  const Elf64_Shdr& strtab = sh[sh[table].sh_link];
  const uint64_t count = sh[table].sh_size / sizeof(Elf64_Sym);
  const Elf64_Sym* syms = At<Elf64_Sym>(sh[table].sh_offset, count);
  if (syms == nullptr || At<char>(strtab.sh_offset, strtab.sh_size) == nullptr) return;
  for (uint64_t i = 0; i < count; ++i) {
    const Elf64_Sym& s = syms[i];
    const int type = ELF64_ST_TYPE(s.st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_value == 0 || s.st_shndx == SHN_UNDEF ||
        s.st_name >= strtab.sh_size) {
      continue;
    }
    const char* name = data_ + strtab.sh_offset + s.st_name;
    const size_t room = strtab.sh_size - s.st_name;
    const size_t length = strnlen(name, room);
    if (length == room) continue;  // Not terminated inside the table.
    visit(Function{s.st_value, s.st_size, name, length, ELF64_ST_BIND(s.st_info) != STB_LOCAL});
  }
}

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_XRAY_ELF_FILE_H_
