// Builds the frame rules the SIGPROF handler uses to find the caller of a function without a
// frame (instrument/leaf_rules.h) from each loaded module's .eh_frame, through libdw.
#ifndef HOOKPROF_RUNTIME_SYMBOLS_LEAF_RULES_BUILDER_H_
#define HOOKPROF_RUNTIME_SYMBOLS_LEAF_RULES_BUILDER_H_

#include <stdint.h>

namespace hookprof {
namespace runtime {

struct LeafRulesStats {
  int modules = 0;    // Modules with rules published.
  uint64_t rows = 0;  // Rows in all (8 bytes each).
  int64_t nanos = 0;  // Time taken.
};

// Publishes rules for every module loaded now and not published yet (a module loaded later is
// covered at the next call). Not for signal handlers; one caller at a time.
LeafRulesStats PublishLeafRules();

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_SYMBOLS_LEAF_RULES_BUILDER_H_
