// JSON string escaping, shared by every JSON writer (traces, charts, latency tables).
//
// Thread-safety: pure functions.
#ifndef HOOKPROF_RUNTIME_CORE_JSON_H_
#define HOOKPROF_RUNTIME_CORE_JSON_H_

#include <string>

namespace hookprof {
namespace runtime {

// Escapes `s` for a JSON string (without the quotes): quote, backslash and control characters.
std::string JsonEscape(const std::string& s);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_CORE_JSON_H_
