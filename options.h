// The options table (hookprof_options.inc) put to work: the environment parser behind
// OptionsFromEnvironment, the bounds check Use applies, and README's variables table. The
// environment is read here and nowhere else in hookprof.
//
// Thread-safety: any thread; the pending environment error is locked inside.
#ifndef HOOKPROF_OPTIONS_H_
#define HOOKPROF_OPTIONS_H_

#include <string>

#include "hookprof.h"

namespace hookprof {
namespace options_internal {

// Checks every field against its bounds; false with a one-line reason naming each offender.
bool Validate(const Options& options, std::string* error);

// Problems OptionsFromEnvironment found since the last call ("" if none), for Use to report.
std::string TakeEnvironmentError();
// Warnings from the same call: HOOKPROF_* variables hookprof does not know ("" if none).
std::string TakeEnvironmentWarning();

// The variable that marks the environment of processes started by a hookprof process: the
// first one to read its options from the environment sets it to its pid.
inline constexpr char kRootPidVariable[] = "HOOKPROF_ROOT_PID";
// Whether this process inherited its environment from another hookprof process (its
// OptionsFromEnvironment then leaves the program alone unless HOOKPROF_CHILDREN=1).
bool StartedByAnotherHookprofProcess();

// Where an output file goes: `%p` replaced by the process id; absolute paths as they are; under
// `bazel test` (TEST_UNDECLARED_OUTPUTS_DIR set) relative ones into the test's outputs.
std::string ResolveOutPath(const std::string& path);

// README's variables table, in Markdown: header, separator, one row per option.
std::string MarkdownTable();

}  // namespace options_internal
}  // namespace hookprof

#endif  // HOOKPROF_OPTIONS_H_
