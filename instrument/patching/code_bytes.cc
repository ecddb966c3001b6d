#include "instrument/patching/code_bytes.h"

#include <string.h>

#include "instrument/attributes.h"
#include "instrument/stacks/safe_read.h"

namespace hookprof {
namespace instrument {

// How a call to `target` reaches `hook`: directly, or through a PLT entry (with or without IBT's
// endbr64 and MPX's bnd prefix) whose GOT slot holds it; 0 if it does not.
HOOKPROF_NO_INSTRUMENT CallForm LeadsTo(uintptr_t target, uintptr_t hook) {
  if (target == hook) return CallForm::kDirect;
  uint8_t b[11];
  if (!SafeRead(target, b, sizeof(b))) return CallForm::kNone;
  size_t at = 0;
  if (b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa) at = 4;  // endbr64
  if (b[at] == 0xf2) ++at;                                                   // bnd
  if (b[at] != 0xff || b[at + 1] != 0x25) return CallForm::kNone;            // jmp *disp(%rip)
  int32_t disp;
  memcpy(&disp, &b[at + 2], 4);
  uintptr_t slot_value = 0;
  const bool to_hook =
      SafeRead(target + at + 6 + disp, &slot_value, sizeof(slot_value)) && slot_value == hook;
  return to_hook ? CallForm::kThroughPlt : CallForm::kNone;
}

HOOKPROF_NO_INSTRUMENT bool CallsEnterHook(uintptr_t fn, size_t size, uintptr_t hook) {
  uint8_t code[128 + 6];
  const size_t n = size < 128 ? size : 128;
  if (n < 5 || !SafeRead(fn, code, n)) return false;
  int32_t disp;
  for (size_t i = 0; i + 5 <= n; ++i) {  // Any byte may start the call: its target decides.
    memcpy(&disp, &code[i + 1], 4);
    if (code[i] == 0xe8 && LeadsTo(fn + i + 5 + disp, hook) != CallForm::kNone) return true;
    if (i + 6 <= n && code[i] == 0xff && code[i + 1] == 0x15) {
      memcpy(&disp, &code[i + 2], 4);
      uintptr_t slot_value = 0;
      if (SafeRead(fn + i + 6 + disp, &slot_value, sizeof(slot_value)) && slot_value == hook) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace instrument
}  // namespace hookprof
