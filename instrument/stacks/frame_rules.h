// Where each frame keeps its caller: rules taken from the modules' call frame information
// (.eh_frame) outside signal handlers (runtime/symbols/frame_rules_builder), looked up per frame
// by the stack walks (walk.h), in the SIGPROF handler too.
//
// A frame-pointer walk alone loses the caller of a function without a frame (most of libc:
// write, memcpy, strlen; any function in its prologue), and it cannot go on at all through a
// function that saved the caller's %rbp and uses the register for data (libc's allocator and
// string code). Per address, the rules say where the CFA (the stack pointer before the call) is,
// from %rsp or from %rbp, and where the caller's %rbp is: unchanged, or saved below the CFA. The
// return address is always the word under the CFA (x86-64's call). That is the part of DWARF's
// call frame information a walk of %rip, %rsp and %rbp needs, in 8 bytes a row, as the Linux
// kernel's ORC tables keep it.
#ifndef HOOKPROF_INSTRUMENT_STACKS_FRAME_RULES_H_
#define HOOKPROF_INSTRUMENT_STACKS_FRAME_RULES_H_

#include <stdint.h>

namespace hookprof {
namespace instrument {

enum FrameRuleKind : uint8_t {
  kRuleNone = 0,  // No rule here: walk on by the frame pointer.
  kRuleRsp = 1,   // The CFA is %rsp + cfa_offset.
  kRuleRbp = 2,   // The CFA is %rbp + cfa_offset (a frame-pointer frame).
  kRuleEnd = 3,   // The outermost frame (its return address is undefined: _start, clone3).
};

// From `start` (an offset from the module's load bias) to the next row's start. The caller's %rbp
// is saved at CFA - 8 * rbp_slot, or unchanged (rbp_slot 0).
struct FrameRow {
  uint32_t start;
  uint16_t cfa_offset;
  uint8_t rbp_slot;
  uint8_t kind;  // FrameRuleKind.
};
static_assert(sizeof(FrameRow) == 8, "a row is 8 bytes");

// Publishes the rows (sorted by start, kept for the process's life) of the module mapped at
// [lo, hi) with load bias `bias`. False when the table of modules is full (kMaxRuleModules).
// Any thread, outside signal handlers; not concurrently with itself.
inline constexpr int kMaxRuleModules = 512;
bool AddFrameRules(uintptr_t lo, uintptr_t hi, uintptr_t bias, const FrameRow* rows, uint32_t n);

// Forgets the rules of the module loaded with `bias` (before a dlclose may unmap it).
void DropFrameRules(uintptr_t bias);

// Whether the module loaded with `bias` has rules now.
bool HasFrameRules(uintptr_t bias);

// The rule at `pc` (kRuleNone outside every module with rules). Async-signal-safe, lock-free.
FrameRow FrameRuleAt(uintptr_t pc);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_STACKS_FRAME_RULES_H_
