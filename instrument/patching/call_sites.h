// Hook calls removed from the code and put back at run time (-finstrument-functions, GCC and
// clang): a hook knows its own return address, so the call instruction that reached it is known
// exactly. `off` removes each hook call as it runs (one hook call per site, then none) and
// leaving `off` puts them back; a function switched off by the user (functions endpoint,
// HOOKPROF_UNHOOK) loses its enter and exit calls in every mode, each as it is met.
//
// A site is removed by turning the first two bytes of `call rel32` (e8, 5 bytes: direct or
// through the PLT; 67 e8, 6 bytes: -fno-plt's GOT call relaxed by the linker) or
// `call *GOT(%rip)` (ff 15, 6 bytes: -fno-plt) into a short jump over the rest (eb 03 / eb 04);
// the rest never changes. Each change is one 16-bit store that does not cross a cache line,
// atomic for instruction fetch on x86-64 as XRay's sled patching relies on: another thread runs
// either the whole call or the jump, never a mix. A `call rel32` whose first two bytes straddle
// a cache line keeps its opcode and gets a new rel32 instead (one 32-bit store, in the next
// line), pointing at a `ret` after it. Anything else at the site is left alone and counted: a
// tail call of the exit hook (GCC ends void functions with `jmp __cyg_profile_func_exit`), a
// call that does not lead to hookprof's hook. Where the text cannot be made writable (a W^X
// policy), nothing changes: the hooks stay and `CanRemoveSites` says why.
//
// Thread-safety: the hooks call RemoveSite on their slow path (async-signal-safe: a try-lock,
// no allocation after the first call's mapping); everything else from any thread.
#ifndef HOOKPROF_INSTRUMENT_PATCHING_CALL_SITES_H_
#define HOOKPROF_INSTRUMENT_PATCHING_CALL_SITES_H_

#include <stddef.h>
#include <stdint.h>

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {

// Non-zero while at least one function is switched off by the user: the hooks then look the
// function up (MaybeUnhooked). Relaxed.
extern uint32_t g_unhooked_functions __attribute__((visibility("hidden")));
// One bit per function-address hash: clear means "not switched off" without a table probe.
inline constexpr uint32_t kUnhookFilterBits = 1u << 16;
extern uint64_t g_unhook_filter[kUnhookFilterBits / 64] __attribute__((visibility("hidden")));

HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE uint32_t UnhookFilterBit(uintptr_t fn) {
  return static_cast<uint32_t>((fn * 0x9E3779B97F4A7C15ull) >> 48);
}
HOOKPROF_NO_INSTRUMENT HOOKPROF_ALWAYS_INLINE bool MaybeUnhooked(uintptr_t fn) {
  if (HOOKPROF_LIKELY(__atomic_load_n(&g_unhooked_functions, __ATOMIC_RELAXED) == 0)) return false;
  const uint32_t bit = UnhookFilterBit(fn);
  return (__atomic_load_n(&g_unhook_filter[bit / 64], __ATOMIC_RELAXED) >> (bit % 64)) & 1;
}

// Whether the user switched `fn` off (exact; any thread, async-signal-safe).
bool FunctionUnhooked(uintptr_t fn);

enum class SiteKind : uint8_t { kEnter = 0, kExit = 1 };

// Called by a hook whose site should go (`off`, or its function is switched off): `return_address`
// is the hook's own and `hook` its entry address (the call at the site must lead there: only the
// hooks name themselves, tests/no_self_instrumentation.sh checks). Removes the call if it can,
// else remembers the site as left alone (so the next call costs one lookup). Returns at once when
// another thread is changing sites.
void RemoveSite(uintptr_t fn, uintptr_t return_address, SiteKind kind, uintptr_t hook)
    __attribute__((visibility("hidden")));

// Puts back every site removed because of `off` (SetMode calls it when recording resumes).
void RestoreOffSites();

// Switches `fn` off (removing its known sites now, the others as they are met) or on again
// (putting its sites back unless `off` keeps them out). False if the table of switched-off
// functions is full.
bool SetFunctionUnhooked(uintptr_t fn, bool unhooked);
// Every function switched on again; returns how many were off.
size_t HookAllFunctionsAgain();

// Whether hook calls can be removed here: false with the reason (HOOKPROF_REMOVE_HOOKS=0, or
// the text could not be made writable, with the error) in `why`.
bool CanRemoveSites(const char** why);
// HOOKPROF_REMOVE_HOOKS: 0 keeps every hook call in place.
void SetSiteRemovalEnabled(bool enabled);

struct SiteCounts {
  uint64_t sites = 0;       // Distinct hook call sites that asked to go.
  uint64_t removed = 0;     // Removed now.
  uint64_t tail_calls = 0;  // Left alone: the exit hook reached by a jump, not a call.
  uint64_t unexpected = 0;  // Left alone: other bytes, another target, or a cache-line split.
  uint64_t untracked = 0;   // Not tracked: the site table was full.
  uint64_t changes = 0;     // Removals and restorations so far.
  // The removable sites by how the call was compiled: `call hook` (or -fno-plt's relaxed by the
  // linker to `addr32 call hook`), `call hook@plt`, -fno-plt's `call *hook@GOTPCREL(%rip)`.
  uint64_t direct = 0;
  uint64_t through_plt = 0;
  uint64_t through_got = 0;
};
SiteCounts CountSites();

// The functions switched off now, up to `max` of them; returns how many there are.
size_t UnhookedFunctions(uintptr_t* out, size_t max);

// The hook call sites of `fn` the table knows, how many of them are removed now, and how many are
// left alone (a tail-called exit, other bytes, a cache-line split).
void SitesOf(uintptr_t fn, uint32_t* known, uint32_t* removed, uint32_t* left_alone);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_PATCHING_CALL_SITES_H_
