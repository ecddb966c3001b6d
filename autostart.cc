// Linking //:autostart is the whole integration: this runs hookprof::Use with the options
// from the environment when the program loads (see hookprof.h for the variables).
#include <stdio.h>

#include <string>

#include "hookprof.h"

namespace {

__attribute__((constructor, no_instrument_function)) void HookprofAutostart() {
  std::string error;
  if (!hookprof::Use(hookprof::OptionsFromEnvironment(), &error)) {
    fprintf(stderr, "%s\n", error.c_str());
  }
}

}  // namespace
