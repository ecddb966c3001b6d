// A program that calls the API itself, built against the installed header and library.
#include <cstdio>
#include <string>

#include "hookprof.h"

int main() {
  hookprof::Options options = hookprof::OptionsFromEnvironment();
  options.address = "127.0.0.1:0";
  options.context_path = "/cmake";
  std::string error;
  if (!hookprof::Use(options, &error)) {
    fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const hookprof::HttpResponse r = hookprof::HandleHttp("GET", "/cmake/debug/pprof/cmdline", "");
  printf("port %d status %d\n", hookprof::Port(), r.status);
  hookprof::Stop();
  return r.status == 200 && r.body.find("uses_api") != std::string::npos ? 0 : 1;
}
