// Libraries unloaded at run time (dlclose): a callback runs before the program's dlclose
// reaches the C library, while the library's code and files are still mapped, so that what
// names its functions can be kept (runtime/symbols registers it). The interposer is in
// unload.cc; without a callback it only forwards.
//
// Thread-safety: the callback runs on the thread calling dlclose, under a ScopedGuard (nothing
// it calls is recorded); it must not call dlclose itself.
#ifndef HOOKPROF_INSTRUMENT_UNLOAD_UNLOAD_H_
#define HOOKPROF_INSTRUMENT_UNLOAD_UNLOAD_H_

namespace hookprof {
namespace instrument {

// One callback; a later call replaces it.
void SetBeforeUnloadCallback(void (*callback)());

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_UNLOAD_UNLOAD_H_
