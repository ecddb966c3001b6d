#include "runtime/symbols/frame_rules_builder.h"

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
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "instrument/stacks/frame_rules.h"
#include "instrument/state/clock.h"

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

struct Modules {
  std::vector<Module> list;
  unsigned long long loads = 0;  // Libraries the process has loaded so far (dlpi_adds).
};

int CollectModule(dl_phdr_info* info, size_t, void* data) {
  auto* modules = static_cast<Modules*>(data);
  modules->loads = info->dlpi_adds;
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
  if (m.hi > m.lo && m.eh_frame_hdr != nullptr) modules->list.push_back(m);
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

constexpr int kRegReturn = 16;  // The return address's column.

using instrument::FrameRow;

// A register's rule: "same value" gives 0, saved at CFA - 8k gives k, anything else -1.
int SavedSlot(Dwarf_Frame* frame, int reg) {
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  size_t n = 0;
  if (dwarf_frame_register(frame, reg, mem, &ops, &n) != 0) return -1;
  if (n == 0) return ops == nullptr ? 0 : -1;  // Same value, or undefined (libdw.h).
  if (ops[0].atom != DW_OP_call_frame_cfa) return -1;
  int64_t offset = 0;
  if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
    offset = static_cast<int64_t>(ops[1].number);
  } else if (n == 3 && (ops[1].atom == DW_OP_consts || ops[1].atom == DW_OP_constu) &&
             ops[2].atom == DW_OP_plus) {
    offset = static_cast<int64_t>(ops[1].number);
  } else {
    return -1;
  }
  if (offset >= 0 || (-offset & 7) != 0 || -offset / 8 > 255) return -1;
  return static_cast<int>(-offset / 8);
}

// The rule of one CFI row (its start filled in by the caller).
FrameRow RowFor(Dwarf_Frame* frame) {
  const FrameRow none{0, 0, 0, instrument::kRuleNone};
  Dwarf_Op mem[3];
  Dwarf_Op* ra = nullptr;
  size_t ra_n = 0;
  if (dwarf_frame_register(frame, kRegReturn, mem, &ra, &ra_n) == 0 && ra_n == 0 && ra != nullptr) {
    return FrameRow{0, 0, 0, instrument::kRuleEnd};  // Undefined: nothing called this frame.
  }
  Dwarf_Op* cfa = nullptr;
  size_t n = 0;
  if (dwarf_frame_cfa(frame, &cfa, &n) != 0 || n != 1) return none;
  int reg = -1;
  int64_t offset = 0;
  if (cfa[0].atom == DW_OP_bregx) {
    reg = static_cast<int>(cfa[0].number);
    offset = static_cast<int64_t>(cfa[0].number2);
  } else if (cfa[0].atom >= DW_OP_breg0 && cfa[0].atom <= DW_OP_breg31) {
    reg = cfa[0].atom - DW_OP_breg0;
    offset = static_cast<int64_t>(cfa[0].number);
  }
  if ((reg != kRegRsp && reg != kRegRbp) || offset < 16 || offset > 0xfff8 || (offset & 7) != 0) {
    if (!(reg == kRegRsp && offset == 8)) return none;  // A function's first instruction.
  }
  const int rbp = SavedSlot(frame, kRegRbp);
  if (rbp < 0 || (reg == kRegRbp && rbp == 0)) return none;  // %rbp is the CFA's base: saved.
  return FrameRow{0, static_cast<uint16_t>(offset), static_cast<uint8_t>(rbp),
                  reg == kRegRsp ? instrument::kRuleRsp : instrument::kRuleRbp};
}

// The rows of one module, merged where neighbours agree; empty when its file has no CFI.
std::vector<FrameRow> RowsOf(const Module& m) {
  std::vector<FrameRow> rows;
  const std::vector<uintptr_t> starts = FunctionStarts(m.eh_frame_hdr);
  if (starts.empty()) return rows;
  const int fd = open(m.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return rows;
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  Dwarf_CFI* cfi = elf != nullptr ? dwarf_getcfi_elf(elf) : nullptr;
  auto add = [&rows](uint64_t start, FrameRow row) {
    if (start > UINT32_MAX) return;
    if (!rows.empty() && rows.back().start >= start) return;  // Overlapping FDEs: first wins.
    const FrameRow& last = rows.empty() ? row : rows.back();
    if (!rows.empty() && last.kind == row.kind && last.cfa_offset == row.cfa_offset &&
        last.rbp_slot == row.rbp_slot) {
      return;
    }
    row.start = static_cast<uint32_t>(start);
    rows.push_back(row);
  };
  const FrameRow none{0, 0, 0, instrument::kRuleNone};
  for (size_t i = 0; cfi != nullptr && i < starts.size(); ++i) {
    // File addresses: memory less the load bias.
    uint64_t addr = starts[i] - m.bias;
    const uint64_t limit = i + 1 < starts.size() ? starts[i + 1] - m.bias : m.hi - m.bias;
    while (addr < limit) {
      Dwarf_Frame* frame = nullptr;
      if (dwarf_cfi_addrframe(cfi, addr, &frame) != 0) {
        add(addr, none);
        break;
      }
      Dwarf_Addr start = 0, end = 0;
      dwarf_frame_info(frame, &start, &end, nullptr);
      add(std::max<uint64_t>(start, addr), RowFor(frame));
      free(frame);
      if (end <= addr) break;
      addr = end;
    }
    if (addr < limit) add(addr, none);  // Between functions: no rule.
  }
  if (cfi != nullptr) dwarf_cfi_end(cfi);
  if (elf != nullptr) elf_end(elf);
  close(fd);
  return rows;
}

}  // namespace

FrameRulesStats PublishFrameRules() {
  static std::mutex mu;
  static unsigned long long published_loads = 0;
  static std::set<std::pair<uintptr_t, std::string>>* without_rules =
      new std::set<std::pair<uintptr_t, std::string>>;  // Files with no rows: not read again.
  std::lock_guard<std::mutex> lock(mu);
  FrameRulesStats stats;
  const int64_t begin = instrument::MonotonicNanos();
  elf_version(EV_CURRENT);
  Modules modules;
  dl_iterate_phdr(&CollectModule, &modules);
  if (modules.loads == published_loads) return stats;  // Nothing loaded since the last call.
  published_loads = modules.loads;
  for (const Module& m : modules.list) {
    if (instrument::HasFrameRules(m.bias) || without_rules->count({m.bias, m.path}) != 0) continue;
    std::vector<FrameRow> rows = RowsOf(m);
    if (rows.empty()) {
      without_rules->insert({m.bias, m.path});
      continue;
    }
    // Kept for the process's life, outside the program's heap: a handler may read them any time.
    const size_t bytes = rows.size() * sizeof(FrameRow);
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) continue;
    memcpy(mem, rows.data(), bytes);
    if (!instrument::AddFrameRules(m.lo, m.hi, m.bias, static_cast<FrameRow*>(mem),
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
