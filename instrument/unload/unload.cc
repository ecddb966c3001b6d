// dlclose, interposed: the callback, then the next definition in lookup order (the C library's,
// or a sanitizer's interceptor).
#include "instrument/unload/unload.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>

#include "instrument/attributes.h"
#include "instrument/stacks/frame_rules.h"
#include "instrument/state/thread_state.h"

namespace hookprof {
namespace instrument {
namespace {

void (*g_before_unload)() = nullptr;  // Release store, acquire load.

}  // namespace

void SetBeforeUnloadCallback(void (*callback)()) {
  __atomic_store_n(&g_before_unload, callback, __ATOMIC_RELEASE);
}

}  // namespace instrument
}  // namespace hookprof

#if HOOKPROF_INTERPOSE_PTHREAD
extern "C" HOOKPROF_NO_INSTRUMENT int dlclose(void* handle) {
  using CloseFn = int (*)(void*);
  static CloseFn real = reinterpret_cast<CloseFn>(dlsym(RTLD_NEXT, "dlclose"));
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  if (auto* callback = __atomic_load_n(&hookprof::instrument::g_before_unload, __ATOMIC_ACQUIRE)) {
    hookprof::instrument::ScopedGuard guard;
    callback();
  }
  // The library may be unmapped now: its frame rules go first (if another handle keeps it
  // loaded, samples in it only lose the recovery of a frameless function's caller).
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr &&
      map->l_name[0] != '\0') {  // Not the program itself.
    hookprof::instrument::DropFrameRules(map->l_addr);
  }
  return real(handle);
}
#endif  // HOOKPROF_INTERPOSE_PTHREAD
