#include "runtime/symbols/leaf_rules_builder.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <libelf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "instrument/clock.h"
#include "instrument/leaf_rules.h"

namespace hookprof {
namespace runtime {
namespace {

constexpr int kRegRbp = 6;  // DWARF's numbering of x86-64's registers.
constexpr int kRegRsp = 7;

struct Module {
  std::string path;
  uintptr_t bias = 0, lo = ~uintptr_t{0}, hi = 0;
  const uint8_t* eh_frame_hdr = nullptr;  // In memory, where the loader mapped it.
};

int CollectModule(dl_phdr_info* info, size_t, void* data) {
  Module m;
  m.path = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (m.path.empty()) m.path = "/proc/self/exe";
  m.bias = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& p = info->dlpi_phdr[i];
    if (p.p_type == PT_LOAD && (p.p_flags & PF_X) != 0) {
      m.lo = std::min<uintptr_t>(m.lo, m.bias + p.p_vaddr);
      m.hi = std::max<uintptr_t>(m.hi, m.bias + p.p_vaddr + p.p_memsz);
    } else if (p.p_type == PT_GNU_EH_FRAME) {
      m.eh_frame_hdr = reinterpret_cast<const uint8_t*>(m.bias + p.p_vaddr);
    }
  }
  if (m.hi > m.lo && m.eh_frame_hdr != nullptr)
    static_cast<std::vector<Module>*>(data)->push_back(m);
  return 0;
}

// The start of every FDE, in memory, from .eh_frame_hdr's sorted search table. Only the
// encodings every x86-64 linker writes (pcrel/udata4/datarel sdata4); else none.
std::vector<uintptr_t> FunctionStarts(const uint8_t* hdr) {
  std::vector<uintptr_t> starts;
  if (hdr[0] != 1 || hdr[1] != (DW_EH_PE_pcrel | DW_EH_PE_sdata4) || hdr[2] != DW_EH_PE_udata4 ||
      hdr[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4)) {
    return starts;
  }
  uint32_t count = 0;
  memcpy(&count, hdr + 8, 4);
  const uint8_t* table = hdr + 12;
  starts.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    int32_t rel = 0;
    memcpy(&rel, table + 8 * uint64_t{i}, 4);
    starts.push_back(reinterpret_cast<uintptr_t>(hdr) + static_cast<intptr_t>(rel));
  }
  return starts;
}

// The row's CFA offset from %rsp when %rbp is the caller's, else 0.
uint32_t RspOffsetWithCallersRbp(Dwarf_Frame* frame) {
  Dwarf_Op* cfa = nullptr;
  size_t n = 0;
  if (dwarf_frame_cfa(frame, &cfa, &n) != 0 || n != 1) return 0;
  int64_t offset = 0;
  if (cfa[0].atom == DW_OP_bregx && cfa[0].number == kRegRsp) {
    offset = static_cast<int64_t>(cfa[0].number2);
  } else if (cfa[0].atom == DW_OP_breg0 + kRegRsp) {
    offset = static_cast<int64_t>(cfa[0].number);
  } else {
    return 0;
  }
  Dwarf_Op mem[3];
  Dwarf_Op* rbp = nullptr;
  size_t rbp_n = 0;
  // Same value: *ops null and no operation (libdw.h).
  if (dwarf_frame_register(frame, kRegRbp, mem, &rbp, &rbp_n) != 0 || rbp != nullptr ||
      rbp_n != 0) {
    return 0;
  }
  return offset >= 8 && offset <= (64 << 10) ? static_cast<uint32_t>(offset) : 0;
}

// The rows of one module, merged where neighbours agree; empty when its file has no CFI.
std::vector<instrument::LeafRow> RowsOf(const Module& m) {
  std::vector<instrument::LeafRow> rows;
  const std::vector<uintptr_t> starts = FunctionStarts(m.eh_frame_hdr);
  if (starts.empty()) return rows;
  const int fd = open(m.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return rows;
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  Dwarf_CFI* cfi = elf != nullptr ? dwarf_getcfi_elf(elf) : nullptr;
  auto add = [&rows](uint64_t start, uint32_t offset) {
    if (start > UINT32_MAX) return;
    if (!rows.empty() && rows.back().start >= start) return;  // Overlapping FDEs: first wins.
    if (!rows.empty() && rows.back().cfa_offset == offset) return;
    rows.push_back({static_cast<uint32_t>(start), offset});
  };
  for (size_t i = 0; cfi != nullptr && i < starts.size(); ++i) {
    // File addresses: memory less the load bias.
    uint64_t addr = starts[i] - m.bias;
    const uint64_t limit = i + 1 < starts.size() ? starts[i + 1] - m.bias : m.hi - m.bias;
    while (addr < limit) {
      Dwarf_Frame* frame = nullptr;
      if (dwarf_cfi_addrframe(cfi, addr, &frame) != 0) {
        add(addr, 0);
        break;
      }
      Dwarf_Addr start = 0, end = 0;
      dwarf_frame_info(frame, &start, &end, nullptr);
      add(std::max<uint64_t>(start, addr), RspOffsetWithCallersRbp(frame));
      free(frame);
      if (end <= addr) break;
      addr = end;
    }
    if (addr < limit) add(addr, 0);  // Between functions: no rule.
  }
  if (cfi != nullptr) dwarf_cfi_end(cfi);
  if (elf != nullptr) elf_end(elf);
  close(fd);
  return rows;
}

}  // namespace

LeafRulesStats PublishLeafRules() {
  LeafRulesStats stats;
  const int64_t begin = instrument::MonotonicNanos();
  elf_version(EV_CURRENT);
  std::vector<Module> modules;
  dl_iterate_phdr(&CollectModule, &modules);
  for (const Module& m : modules) {
    if (instrument::HasLeafRules(m.bias)) continue;
    std::vector<instrument::LeafRow> rows = RowsOf(m);
    if (rows.empty()) continue;
    // Kept for the process's life, outside the program's heap: a handler may read them any time.
    const size_t bytes = rows.size() * sizeof(instrument::LeafRow);
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) continue;
    memcpy(mem, rows.data(), bytes);
    if (!instrument::AddLeafRules(m.lo, m.hi, m.bias, static_cast<instrument::LeafRow*>(mem),
                                  static_cast<uint32_t>(rows.size()))) {
      munmap(mem, bytes);
      break;
    }
    ++stats.modules;
    stats.rows += rows.size();
  }
  stats.nanos = instrument::MonotonicNanos() - begin;
  return stats;
}

}  // namespace runtime
}  // namespace hookprof
