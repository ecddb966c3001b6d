#include "instrument/stacks/frame_rules.h"

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {
namespace {

struct RuleModule {
  uintptr_t lo, hi, bias;  // hi == 0: dropped.
  const FrameRow* rows;
  uint32_t n;
};

// Written before g_modules_used publishes them (release), never moved: the handler reads them
// without a lock. A dropped module's rows stay allocated (a handler may be reading them).
RuleModule g_modules[kMaxRuleModules];
int g_modules_used = 0;

}  // namespace

HOOKPROF_NO_INSTRUMENT bool AddFrameRules(uintptr_t lo, uintptr_t hi, uintptr_t bias,
                                          const FrameRow* rows, uint32_t n) {
  const int used = __atomic_load_n(&g_modules_used, __ATOMIC_RELAXED);
  if (used == kMaxRuleModules) return false;  // Dropped slots are not reused: rows stay read.
  const int slot = used;
  RuleModule& m = g_modules[slot];
  m.lo = lo;
  m.bias = bias;
  m.rows = rows;
  m.n = n;
  m.hi = hi;
  __atomic_store_n(&g_modules_used, used + 1, __ATOMIC_RELEASE);  // Last: the entry is whole.
  return true;
}

HOOKPROF_NO_INSTRUMENT void DropFrameRules(uintptr_t bias) {
  const int used = __atomic_load_n(&g_modules_used, __ATOMIC_ACQUIRE);
  for (int i = 0; i < used; ++i) {
    RuleModule& m = g_modules[i];
    const uintptr_t m_hi = __atomic_load_n(&m.hi, __ATOMIC_ACQUIRE);
    if (m_hi != 0 && m.bias == bias) __atomic_store_n(&m.hi, 0, __ATOMIC_RELEASE);
  }
}

HOOKPROF_NO_INSTRUMENT bool HasFrameRules(uintptr_t bias) {
  const int used = __atomic_load_n(&g_modules_used, __ATOMIC_ACQUIRE);
  for (int i = 0; i < used; ++i) {
    if (__atomic_load_n(&g_modules[i].hi, __ATOMIC_ACQUIRE) != 0 && g_modules[i].bias == bias) {
      return true;
    }
  }
  return false;
}

HOOKPROF_NO_INSTRUMENT FrameRow FrameRuleAt(uintptr_t pc) {
  const int used = __atomic_load_n(&g_modules_used, __ATOMIC_ACQUIRE);
  for (int i = 0; i < used; ++i) {
    const RuleModule& m = g_modules[i];
    const uintptr_t hi = __atomic_load_n(&m.hi, __ATOMIC_ACQUIRE);
    if (pc < m.lo || pc >= hi) continue;
    const uint64_t offset = pc - m.bias;
    // The last row starting at or before `offset`.
    uint32_t lo_i = 0, hi_i = m.n;
    while (lo_i < hi_i) {
      const uint32_t mid = lo_i + (hi_i - lo_i) / 2;
      if (m.rows[mid].start <= offset) {
        lo_i = mid + 1;
      } else {
        hi_i = mid;
      }
    }
    if (lo_i == 0) break;
    return m.rows[lo_i - 1];
  }
  return FrameRow{0, 0, 0, kRuleNone};
}

}  // namespace instrument
}  // namespace hookprof
