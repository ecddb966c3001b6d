#include "instrument/mode.h"

#include "instrument/patching/call_sites.h"
#include "instrument/state/tsc.h"

namespace hookprof {
namespace instrument {
namespace {

void (*g_mode_callback)(Mode) = nullptr;

}  // namespace

HOOKPROF_NO_INSTRUMENT void SetMode(Mode mode) {
  const uint64_t old = LoadControl();
  uint64_t epoch = EpochOf(old);
  if (ModeOf(old) == kModeOff && mode != kModeOff) ++epoch;
  if (!IsTimed(old) && IsTimed(mode)) __atomic_store_n(&g_timed_since, ReadTsc(), __ATOMIC_RELAXED);
  __atomic_store_n(&g_control, MakeControl(mode, epoch), __ATOMIC_RELAXED);
  // The hook calls `off` took out go back (after the store: a hook that still saw `off` and
  // removes its site now finds the new mode under the sites' lock and leaves it).
  if (ModeOf(old) == kModeOff && mode != kModeOff) RestoreOffSites();
  if (auto* cb = __atomic_load_n(&g_mode_callback, __ATOMIC_ACQUIRE)) cb(mode);
}

HOOKPROF_NO_INSTRUMENT void SetModeChangedCallback(void (*callback)(Mode)) {
  __atomic_store_n(&g_mode_callback, callback, __ATOMIC_RELEASE);
}

}  // namespace instrument
}  // namespace hookprof
