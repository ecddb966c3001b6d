// Where a sampled function without a frame keeps its return address: rules taken from the
// modules' call frame information (.eh_frame) outside signal handlers (runtime/symbols/
// leaf_rules_builder), looked up by the SIGPROF handler.
//
// A frame-pointer walk starts at %rbp, which belongs to the interrupted function's caller when
// the interrupted function has no frame of its own (most of libc: write, memcpy, strlen) or has
// not made it yet (a prologue): that caller is then missing from the stack. For a PC where the
// rules say "the CFA is %rsp + N and %rbp is the caller's", the caller's return address is at
// %rsp + N - 8, inside the interrupted function's own frame, and the walk from %rbp goes on
// above it unchanged.
#ifndef HOOKPROF_INSTRUMENT_LEAF_RULES_H_
#define HOOKPROF_INSTRUMENT_LEAF_RULES_H_

#include <stdint.h>

namespace hookprof {
namespace instrument {

// From `start` (an offset from the module's load bias) to the next row's start: the CFA is
// %rsp + cfa_offset with %rbp untouched (cfa_offset != 0), or anything else (0: not used).
struct LeafRow {
  uint32_t start;
  uint32_t cfa_offset;
};

// Publishes the rows (sorted by start, kept for the process's life) of the module mapped at
// [lo, hi) with load bias `bias`. False when the table of modules is full (kMaxLeafModules).
// Any thread, outside signal handlers; not concurrently with itself.
inline constexpr int kMaxLeafModules = 512;
bool AddLeafRules(uintptr_t lo, uintptr_t hi, uintptr_t bias, const LeafRow* rows, uint32_t n);

// Forgets the rules of the module loaded with `bias` (before a dlclose may unmap it).
void DropLeafRules(uintptr_t bias);

// Whether the module loaded with `bias` has rules now.
bool HasLeafRules(uintptr_t bias);

// The interrupted function's caller when `pc` has an %rsp-based rule: its return address, read
// from the stack at `sp`. Async-signal-safe; reads only [sp, sp + 64 KiB).
bool LeafReturnAddress(uintptr_t pc, uintptr_t sp, uintptr_t* return_address);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_LEAF_RULES_H_
