#include "instrument/patching/call_sites.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "instrument/patching/code_bytes.h"
#include "instrument/stacks/safe_read.h"
#include "instrument/state/thread_state.h"

namespace hookprof {
namespace instrument {

uint32_t g_unhooked_functions __attribute__((visibility("hidden"))) = 0;
uint64_t g_unhook_filter[kUnhookFilterBits / 64] __attribute__((visibility("hidden")));

namespace {

enum SiteState : uint8_t {
  kHooked = 0,       // Tracked, the call in place.
  kRemovedOff = 1,   // Jumped over while `off`.
  kRemovedUser = 2,  // Jumped over: its function is switched off.
  kTailCall = 3,     // Left alone (see call_sites.h).
  kUnexpected = 4,
};

// One hook call site, found by the hook's return address. Written under g_lock; `state` is read
// by the hooks without it (relaxed), the rest is immutable once the index publishes the entry.
struct Site {
  uintptr_t return_address;
  uintptr_t fn;
  uintptr_t address;  // The call instruction.
  // The bytes that take the call out, `width` of them at `address`, and the compiler's: the first
  // two as a short jump over the rest, or (a site whose first two bytes straddle a cache line)
  // the four of its rel32, pointed at a `ret`.
  uint32_t original;
  uint32_t jump;
  uint8_t width;
  uint8_t kind;
  uint8_t state;
  CallForm form;  // For removable sites.
};

// Dense entries plus an open-addressing index (1 + entry), twice as many slots: hooks probe it
// lock-free. Reserved once (MAP_NORESERVE), touched as sites arrive.
constexpr uint32_t kMaxSites = 1u << 17;
constexpr uint32_t kSiteSlots = kMaxSites * 2;
struct SiteTable {
  uint32_t index[kSiteSlots];
  Site sites[kMaxSites];
};

// Functions the user switched off, the same way (entries are kept when switched on again).
constexpr uint32_t kMaxFunctions = 1u << 16;
constexpr uint32_t kFunctionSlots = kMaxFunctions * 2;
struct FunctionTable {
  uint32_t index[kFunctionSlots];
  uintptr_t fns[kMaxFunctions];
  uint8_t unhooked[kMaxFunctions];  // Relaxed.
};

SiteTable* g_sites = nullptr;          // Acquire/release: mapped under g_lock.
uint32_t g_site_count = 0;             // Under g_lock; relaxed for readers.
FunctionTable* g_functions = nullptr;  // Acquire/release.
uint32_t g_function_count = 0;         // Under g_lock.
int g_lock = 0;
// 1: sites may be removed; 0: HOOKPROF_REMOVE_HOOKS=0; -errno: mprotect refused (a W^X policy).
int g_removal = 1;
uint64_t g_untracked = 0;  // Relaxed.
// Sites left alone, by return address, direct-mapped: a hook at one of them (GCC's tail-called
// exits run on every call of a void function) returns after one load instead of a table probe.
constexpr uint32_t kLeftAloneSlots = 4096;
uintptr_t g_left_alone[kLeftAloneSlots];  // Relaxed.
uint64_t g_changes = 0;                   // Under g_lock.

HOOKPROF_NO_INSTRUMENT bool RemovalEnabled() {
  return __atomic_load_n(&g_removal, __ATOMIC_RELAXED) == 1;
}

HOOKPROF_NO_INSTRUMENT bool TryLock() {
  return __atomic_load_n(&g_lock, __ATOMIC_RELAXED) == 0 &&
         __atomic_exchange_n(&g_lock, 1, __ATOMIC_ACQUIRE) == 0;
}
HOOKPROF_NO_INSTRUMENT void Lock() {
  while (!TryLock()) sched_yield();
}
HOOKPROF_NO_INSTRUMENT void Unlock() { __atomic_store_n(&g_lock, 0, __ATOMIC_RELEASE); }

// A fork taken while another thread held the lock leaves the child's copy held.
HOOKPROF_NO_INSTRUMENT void UnlockInChild() { g_lock = 0; }
__attribute__((constructor)) HOOKPROF_NO_INSTRUMENT void InstallForkHandler() {
  pthread_atfork(nullptr, nullptr, &UnlockInChild);
}

HOOKPROF_NO_INSTRUMENT uint32_t HashOf(uintptr_t key) {
  return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ull) >> 32);
}

template <typename T>
HOOKPROF_NO_INSTRUMENT T* MapTable(T** table) {
  if (T* t = __atomic_load_n(table, __ATOMIC_ACQUIRE)) return t;
  void* p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  __atomic_store_n(table, static_cast<T*>(p), __ATOMIC_RELEASE);
  return static_cast<T*>(p);
}

// The site reached from `return_address`, or nullptr. Any thread, lock-free.
HOOKPROF_NO_INSTRUMENT Site* FindSite(uintptr_t return_address) {
  SiteTable* t = __atomic_load_n(&g_sites, __ATOMIC_ACQUIRE);
  if (t == nullptr) return nullptr;
  for (uint32_t i = HashOf(return_address) % kSiteSlots;; i = (i + 1) % kSiteSlots) {
    const uint32_t e = __atomic_load_n(&t->index[i], __ATOMIC_ACQUIRE);
    if (e == 0) return nullptr;
    if (t->sites[e - 1].return_address == return_address) return &t->sites[e - 1];
  }
}

// The slot of `fn` in the function table, or nullptr. Any thread, lock-free.
HOOKPROF_NO_INSTRUMENT uint32_t FindFunction(const FunctionTable* t, uintptr_t fn) {
  for (uint32_t i = HashOf(fn) % kFunctionSlots;; i = (i + 1) % kFunctionSlots) {
    const uint32_t e = __atomic_load_n(&t->index[i], __ATOMIC_ACQUIRE);
    if (e == 0 || t->fns[e - 1] == fn) return e;
  }
}

// A `call rel32` whose first two bytes straddle a cache line: its rel32 (the next line's first
// four bytes) is pointed at a `ret` byte after it instead, so the call returns at once. Any c3
// byte runs as `ret`; one that no site change could touch is taken (no e8, 67 or ff in the five
// bytes before it), within 256 bytes. Else the site stays as it is (Classify leaves it alone).
HOOKPROF_NO_INSTRUMENT void RedirectToRet(Site* s) {
  const uintptr_t ra = s->return_address;
  uint8_t code[256];
  if (!SafeRead(ra, code, sizeof(code))) return;
  for (size_t i = 5; i < sizeof(code); ++i) {
    if (code[i] != 0xc3) continue;
    bool touchable = false;
    for (size_t k = i - 5; k < i; ++k)
      touchable |= code[k] == 0xe8 || code[k] == 0x67 || code[k] == 0xff;
    if (touchable) continue;
    s->address = ra - 4;
    s->jump = static_cast<uint32_t>(i);  // ra + i - ra.
    s->width = 4;
    return;
  }
}

// Fills in how the call that returns to `s->return_address` can be jumped over, or marks the
// site as left alone.
HOOKPROF_NO_INSTRUMENT void Classify(Site* s, uintptr_t hook) {
  const uintptr_t ra = s->return_address;
  uint8_t b[6];
  memcpy(b, reinterpret_cast<const void*>(ra - 6), 6);  // The call before it: mapped text.
  int32_t disp;
  s->state = kUnexpected;
  if (b[1] == 0xe8) {  // call rel32, or addr32 call rel32 (67 e8: -fno-plt relaxed by ld)
    memcpy(&disp, &b[2], 4);
    const uintptr_t target = ra + disp;
    if ((s->form = LeadsTo(target, hook)) != CallForm::kNone) {
      // The jump covers the prefix too: a 67 before a short jump is not defined alike everywhere.
      const bool prefixed = b[0] == 0x67;
      s->address = ra - (prefixed ? 6 : 5);
      s->jump = prefixed ? 0x04eb : 0x03eb;  // jmp to ra (little-endian: eb 04 / eb 03)
      s->width = 2;
      s->state = kHooked;
      if ((s->address & 63) == 63) RedirectToRet(s);
    } else if (s->kind == static_cast<uint8_t>(SiteKind::kExit) &&
               LeadsTo(target, s->fn) != CallForm::kNone) {
      // The call of the function itself: it ended with a jump to the exit hook.
      s->state = kTailCall;
    }
  } else if (b[0] == 0xff && b[1] == 0x15) {  // call *disp(%rip)
    memcpy(&disp, &b[2], 4);
    uintptr_t slot_value = 0;
    if (SafeRead(ra + disp, &slot_value, sizeof(slot_value)) && slot_value == hook) {
      s->address = ra - 6;
      s->jump = 0x04eb;
      s->width = 2;
      s->state = kHooked;
      s->form = CallForm::kThroughGot;
    }
  }
  // The bytes are stored at once only within one cache line (and so one page).
  if (s->state == kHooked && (s->address & 63) + s->width > 64) s->state = kUnexpected;
  if (s->state == kHooked) {
    s->original = 0;
    memcpy(&s->original, reinterpret_cast<const void*>(s->address), s->width);
  }
}

// The site of `return_address`, inserted (classified) if new; nullptr when the table is full.
// Under g_lock.
HOOKPROF_NO_INSTRUMENT Site* InsertSite(uintptr_t fn, uintptr_t return_address, SiteKind kind,
                                        uintptr_t hook) {
  SiteTable* t = MapTable(&g_sites);
  if (t == nullptr || g_site_count >= kMaxSites) {
    __atomic_add_fetch(&g_untracked, 1, __ATOMIC_RELAXED);
    return nullptr;
  }
  uint32_t i = HashOf(return_address) % kSiteSlots;
  while (t->index[i] != 0) {
    if (t->sites[t->index[i] - 1].return_address == return_address)
      return &t->sites[t->index[i] - 1];
    i = (i + 1) % kSiteSlots;
  }
  Site* s = &t->sites[g_site_count];
  s->return_address = return_address;
  s->fn = fn;
  s->kind = static_cast<uint8_t>(kind);
  Classify(s, hook);
  if (s->state >= kTailCall) {
    __atomic_store_n(&g_left_alone[HashOf(return_address) % kLeftAloneSlots], return_address,
                     __ATOMIC_RELAXED);
  }
  __atomic_store_n(&g_site_count, g_site_count + 1, __ATOMIC_RELEASE);
  __atomic_store_n(&t->index[i], g_site_count, __ATOMIC_RELEASE);
  return s;
}

// One 16- or 32-bit store, not split by a cache line (Classify): atomic for instruction fetch.
HOOKPROF_NO_INSTRUMENT void StoreCode(uintptr_t address, uint32_t value, int width) {
  if (width == 2) {
    asm volatile("movw %w1, (%0)" : : "r"(address), "r"(value) : "memory");
  } else {
    asm volatile("movl %1, (%0)" : : "r"(address), "r"(value) : "memory");
  }
}

// Writes `value` at a site's address: the page made writable (still executable: other threads
// run it meanwhile) and back. False, with removal switched off for good, if the system refuses.
HOOKPROF_NO_INSTRUMENT bool WriteSite(const Site& s, uint32_t value) {
  // The bytes must still be ours: a library unloaded and another mapped there, a debugger's
  // breakpoint, are left alone.
  uint32_t now = 0;
  if (!SafeRead(s.address, &now, s.width) || now != (value == s.jump ? s.original : s.jump)) {
    return false;
  }
  void* page = reinterpret_cast<void*>(s.address & ~uintptr_t{4095});
  if (mprotect(page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
    __atomic_store_n(&g_removal, -errno, __ATOMIC_RELAXED);
    return false;
  }
  StoreCode(s.address, value, s.width);
  mprotect(page, 4096, PROT_READ | PROT_EXEC);
  __atomic_store_n(&g_changes, g_changes + 1, __ATOMIC_RELAXED);
  return true;
}

// Moves a site to `state`, removing or restoring its call as that needs. Under g_lock.
HOOKPROF_NO_INSTRUMENT void MoveSite(Site* s, SiteState state) {
  const uint8_t from = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
  if (from == state || from >= kTailCall) return;
  const bool removed = from != kHooked, remove = state != kHooked;
  if (removed != remove && !WriteSite(*s, remove ? s->jump : s->original)) {
    if (RemovalEnabled()) {
      __atomic_store_n(&s->state, kUnexpected, __ATOMIC_RELAXED);
      __atomic_store_n(&g_left_alone[HashOf(s->return_address) % kLeftAloneSlots],
                       s->return_address, __ATOMIC_RELAXED);
    }
    return;
  }
  __atomic_store_n(&s->state, state, __ATOMIC_RELAXED);
}

}  // namespace

HOOKPROF_NO_INSTRUMENT bool FunctionUnhooked(uintptr_t fn) {
  const FunctionTable* t = __atomic_load_n(&g_functions, __ATOMIC_ACQUIRE);
  if (t == nullptr) return false;
  const uint32_t e = FindFunction(t, fn);
  return e != 0 && __atomic_load_n(&t->unhooked[e - 1], __ATOMIC_RELAXED) != 0;
}

HOOKPROF_NO_INSTRUMENT void RemoveSite(uintptr_t fn, uintptr_t return_address, SiteKind kind,
                                       uintptr_t hook) {
  if (__atomic_load_n(&g_left_alone[HashOf(return_address) % kLeftAloneSlots], __ATOMIC_RELAXED) ==
      return_address) {
    return;
  }
  if (!RemovalEnabled()) return;
  const Site* known = FindSite(return_address);
  if (known != nullptr && __atomic_load_n(&known->state, __ATOMIC_RELAXED) != kHooked) return;
  if (!TryLock()) return;  // Another thread (or this one, interrupted) is changing sites.
  // Still to go now that the lock is held? A mode switch or a hook= may have come between.
  const bool user = FunctionUnhooked(fn);
  if (user || RecordingOff()) {
    if (Site* s = InsertSite(fn, return_address, kind, hook))
      MoveSite(s, user ? kRemovedUser : kRemovedOff);
  }
  Unlock();
}

HOOKPROF_NO_INSTRUMENT void RestoreOffSites() {
  SiteTable* t = __atomic_load_n(&g_sites, __ATOMIC_ACQUIRE);
  if (t == nullptr) return;
  Lock();
  for (uint32_t i = 0; i < g_site_count; ++i) {
    if (t->sites[i].state == kRemovedOff) MoveSite(&t->sites[i], kHooked);
  }
  Unlock();
}

HOOKPROF_NO_INSTRUMENT bool SetFunctionUnhooked(uintptr_t fn, bool unhooked) {
  Lock();
  FunctionTable* t = MapTable(&g_functions);
  uint32_t e = t == nullptr ? 0 : FindFunction(t, fn);
  if (e == 0 && unhooked) {
    if (t == nullptr || g_function_count >= kMaxFunctions) {
      Unlock();
      return false;
    }
    t->fns[g_function_count] = fn;
    e = g_function_count + 1;
    __atomic_store_n(&g_function_count, e, __ATOMIC_RELEASE);
    uint32_t i = HashOf(fn) % kFunctionSlots;
    while (t->index[i] != 0) i = (i + 1) % kFunctionSlots;
    __atomic_store_n(&t->index[i], e, __ATOMIC_RELEASE);
  }
  if (e != 0 && (t->unhooked[e - 1] != 0) != unhooked) {
    __atomic_store_n(&t->unhooked[e - 1], uint8_t{unhooked}, __ATOMIC_RELAXED);
    if (unhooked) {
      const uint32_t bit = UnhookFilterBit(fn);
      __atomic_or_fetch(&g_unhook_filter[bit / 64], uint64_t{1} << (bit % 64), __ATOMIC_RELAXED);
    }
    __atomic_store_n(&g_unhooked_functions, g_unhooked_functions + (unhooked ? 1 : -1),
                     __ATOMIC_RELAXED);
    // Its known sites now; the others as they are met. Back on: removed still while `off`.
    SiteTable* sites = __atomic_load_n(&g_sites, __ATOMIC_ACQUIRE);
    const SiteState to = unhooked ? kRemovedUser : RecordingOff() ? kRemovedOff : kHooked;
    for (uint32_t i = 0; sites != nullptr && i < g_site_count; ++i) {
      if (sites->sites[i].fn == fn && (unhooked || sites->sites[i].state == kRemovedUser)) {
        if (RemovalEnabled()) MoveSite(&sites->sites[i], to);
      }
    }
  }
  Unlock();
  return true;
}

HOOKPROF_NO_INSTRUMENT size_t HookAllFunctionsAgain() {
  const FunctionTable* t = __atomic_load_n(&g_functions, __ATOMIC_ACQUIRE);
  size_t changed = 0;
  for (uint32_t i = 0; t != nullptr && i < __atomic_load_n(&g_function_count, __ATOMIC_RELAXED);
       ++i) {
    if (t->unhooked[i] != 0 && SetFunctionUnhooked(t->fns[i], false)) ++changed;
  }
  return changed;
}

HOOKPROF_NO_INSTRUMENT bool CanRemoveSites(const char** why) {
  const int state = __atomic_load_n(&g_removal, __ATOMIC_RELAXED);
  if (state == 1) return true;
  static char refused[128];
  if (state == 0) {
    *why = "HOOKPROF_REMOVE_HOOKS=0 keeps every hook call in place";
  } else {
    snprintf(refused, sizeof(refused),
             "the system refused to make the program's code writable (%s): the hooks stay",
             strerror(-state));
    *why = refused;
  }
  return false;
}

HOOKPROF_NO_INSTRUMENT void SetSiteRemovalEnabled(bool enabled) {
  const int state = __atomic_load_n(&g_removal, __ATOMIC_RELAXED);
  if (state < 0) return;  // Refused stays refused.
  __atomic_store_n(&g_removal, enabled ? 1 : 0, __ATOMIC_RELAXED);
}

HOOKPROF_NO_INSTRUMENT SiteCounts CountSites() {
  SiteCounts c;
  const SiteTable* t = __atomic_load_n(&g_sites, __ATOMIC_ACQUIRE);
  const uint32_t n = __atomic_load_n(&g_site_count, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; t != nullptr && i < n; ++i) {
    const uint8_t state = __atomic_load_n(&t->sites[i].state, __ATOMIC_RELAXED);
    c.removed += state == kRemovedOff || state == kRemovedUser;
    c.tail_calls += state == kTailCall;
    c.unexpected += state == kUnexpected;
    if (state <= kRemovedUser) {
      c.direct += t->sites[i].form == CallForm::kDirect;
      c.through_plt += t->sites[i].form == CallForm::kThroughPlt;
      c.through_got += t->sites[i].form == CallForm::kThroughGot;
    }
  }
  c.sites = n;
  c.untracked = __atomic_load_n(&g_untracked, __ATOMIC_RELAXED);
  c.changes = __atomic_load_n(&g_changes, __ATOMIC_RELAXED);
  return c;
}

HOOKPROF_NO_INSTRUMENT size_t UnhookedFunctions(uintptr_t* out, size_t max) {
  const FunctionTable* t = __atomic_load_n(&g_functions, __ATOMIC_ACQUIRE);
  size_t found = 0;
  for (uint32_t i = 0; t != nullptr && i < __atomic_load_n(&g_function_count, __ATOMIC_RELAXED);
       ++i) {
    if (__atomic_load_n(&t->unhooked[i], __ATOMIC_RELAXED) == 0) continue;
    if (found < max) out[found] = t->fns[i];
    ++found;
  }
  return found;
}

HOOKPROF_NO_INSTRUMENT void SitesOf(uintptr_t fn, uint32_t* known, uint32_t* removed,
                                    uint32_t* left_alone) {
  *known = *removed = *left_alone = 0;
  const SiteTable* t = __atomic_load_n(&g_sites, __ATOMIC_ACQUIRE);
  const uint32_t n = __atomic_load_n(&g_site_count, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; t != nullptr && i < n; ++i) {
    if (t->sites[i].fn != fn) continue;
    const uint8_t state = __atomic_load_n(&t->sites[i].state, __ATOMIC_RELAXED);
    ++*known;
    *removed += state == kRemovedOff || state == kRemovedUser;
    *left_alone += state >= kTailCall;
  }
}

}  // namespace instrument
}  // namespace hookprof
