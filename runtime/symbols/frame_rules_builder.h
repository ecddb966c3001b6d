// Builds the frame rules the stack walks follow (instrument/stacks/frame_rules.h) from each loaded
// module's .eh_frame, through libdw.
#ifndef HOOKPROF_RUNTIME_SYMBOLS_FRAME_RULES_BUILDER_H_
#define HOOKPROF_RUNTIME_SYMBOLS_FRAME_RULES_BUILDER_H_

#include <stdint.h>

namespace hookprof {
namespace runtime {

struct FrameRulesStats {
  int modules = 0;    // Modules with rules published.
  uint64_t rows = 0;  // Rows in all (8 bytes each).
  int64_t nanos = 0;  // Time taken.
};

// Publishes rules for every module loaded now and not published yet: at Use() and as each CPU
// window opens, so a library loaded since (dlopen) is covered from the next window on. A call
// when nothing was loaded since the last costs one dl_iterate_phdr. Any thread, not in signal
// handlers. (dlopen itself is not interposed: the C library finds a dlopen's search path,
// RUNPATH and $ORIGIN, from the calling object, which an interposer would replace.)
FrameRulesStats PublishFrameRules();

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_SYMBOLS_FRAME_RULES_BUILDER_H_
