// dlclose, interposed: the callback, then the next definition in lookup order (the C library's,
// or a sanitizer's interceptor).
#include "instrument/unload.h"

#include <dlfcn.h>
#include <errno.h>

#include "instrument/attributes.h"
#include "instrument/thread_state.h"

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
  return real(handle);
}
#endif  // HOOKPROF_INTERPOSE_PTHREAD
