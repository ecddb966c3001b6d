// Code built without hooks (a third-party library's stand-in), called from hooked code and
// calling back into it: where the shadow stack ends, stack walks take over.
#ifndef HOOKPROF_TESTS_PLAIN_CODE_H_
#define HOOKPROF_TESTS_PLAIN_CODE_H_

#include <stdint.h>

namespace plain_code {

// PlainOuter calls PlainInner, which burns about `millis` of this thread's CPU time.
void PlainOuter(int millis);
// The return address of PlainInner's call into PlainOuter (set by PlainInner).
extern uintptr_t g_inner_returns_to;

// ForEach calls Middle, which calls `callback(arg)` `n` times (a library iterating with a
// user's callback).
void ForEach(int n, uint64_t (*callback)(int), int arg);
// Middle's entry address: its calls of the callback return a few bytes after it.
uintptr_t MiddleEntry();

}  // namespace plain_code

#endif  // HOOKPROF_TESTS_PLAIN_CODE_H_
