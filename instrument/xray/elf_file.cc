#include "instrument/xray/elf_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hookprof {
namespace instrument {

ElfFile::ElfFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      data_ = static_cast<const char*>(p);
      size_ = st.st_size;
    }
  }
  close(fd);
  if (data_ != nullptr && (memcmp(header()->e_ident, ELFMAG, SELFMAG) != 0 ||
                           header()->e_ident[EI_CLASS] != ELFCLASS64)) {
    munmap(const_cast<char*>(data_), size_);
    data_ = nullptr;
  }
}

ElfFile::~ElfFile() {
  if (data_ != nullptr) munmap(const_cast<char*>(data_), size_);
}

bool ElfFile::HasSymtab() const {
  const Elf64_Shdr* sh = ok() ? shdrs() : nullptr;
  for (int i = 0; sh != nullptr && i < header()->e_shnum; ++i) {
    if (sh[i].sh_type == SHT_SYMTAB) return true;
  }
  return false;
}

std::string ElfFile::BuildId() const {
  const Elf64_Phdr* ph = ok() ? phdrs() : nullptr;
  if (ph == nullptr) return "";
  for (int i = 0; i < header()->e_phnum; ++i) {
    if (ph[i].p_type != PT_NOTE) continue;
    uint64_t pos = ph[i].p_offset;
    const uint64_t end = ph[i].p_offset + ph[i].p_filesz;
    while (pos + sizeof(Elf64_Nhdr) <= end) {
      const auto* nh = At<Elf64_Nhdr>(pos);
      if (nh == nullptr) break;
      const uint64_t name_at = pos + sizeof(Elf64_Nhdr);
      const uint64_t desc_at = name_at + ((nh->n_namesz + 3) & ~3u);
      const uint64_t next = desc_at + ((nh->n_descsz + 3) & ~3u);
      if (next > end) break;
      const char* name = At<char>(name_at, nh->n_namesz);
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && name != nullptr &&
          memcmp(name, "GNU", 4) == 0) {
        const auto* desc = At<unsigned char>(desc_at, nh->n_descsz);
        if (desc == nullptr) break;
        std::string hex;
        char buf[3];
        for (uint32_t k = 0; k < nh->n_descsz; ++k) {
          snprintf(buf, sizeof(buf), "%02x", desc[k]);
          hex += buf;
        }
        return hex;
      }
      pos = next;
    }
  }
  return "";
}

bool ElfFile::LoadBias(uint64_t start, uint64_t offset, uint64_t* bias) const {
  const Elf64_Phdr* ph = ok() ? phdrs() : nullptr;
  if (ph == nullptr) return false;
  for (int i = 0; i < header()->e_phnum; ++i) {
    if (ph[i].p_type != PT_LOAD) continue;
    const uint64_t seg_off = ph[i].p_offset & ~uint64_t{4095};
    if (offset >= seg_off && offset < ph[i].p_offset + ph[i].p_filesz) {
      *bias = start - offset + ph[i].p_offset - ph[i].p_vaddr;
      return true;
    }
  }
  return false;
}

const Elf64_Shdr* ElfFile::Section(const char* name) const {
  const Elf64_Shdr* sh = ok() ? shdrs() : nullptr;
  if (sh == nullptr || header()->e_shstrndx >= header()->e_shnum) return nullptr;
  const Elf64_Shdr& names = sh[header()->e_shstrndx];
  if (At<char>(names.sh_offset, names.sh_size) == nullptr) return nullptr;
  const size_t want = strlen(name) + 1;  // With its terminator, inside the table.
  for (int i = 0; i < header()->e_shnum; ++i) {
    if (sh[i].sh_name < names.sh_size && names.sh_size - sh[i].sh_name >= want &&
        memcmp(data_ + names.sh_offset + sh[i].sh_name, name, want) == 0) {
      return &sh[i];
    }
  }
  return nullptr;
}

}  // namespace instrument
}  // namespace hookprof
