// A workload on third-party code (RapidJSON, Debian's rapidjson-dev), for comparing hookprof's
// CPU profile with an independent profiler's (vs_gperftools.sh): generates a JSON document of
// records, serialises it, parses it back, walks it, sorts the names it holds and writes the text
// to /dev/null in small writes. Time goes to RapidJSON, libc (write, memcpy, malloc) and std::sort
// as well as to the functions below, which are the only instrumented ones (RapidJSON and the
// standard library come from /usr/include, excluded from the hooks as in the consumer config).
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace work {

__attribute__((noinline)) std::string Generate(int records, unsigned seed) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartArray();
  char name[32];
  for (int i = 0; i < records; ++i) {
    seed = seed * 1103515245u + 12345u;
    w.StartObject();
    w.Key("id");
    w.Int(i);
    w.Key("name");
    snprintf(name, sizeof(name), "user-%08x", seed);
    w.String(name);
    w.Key("score");
    w.Double((seed >> 8) / 1000.0);
    w.Key("tags");
    w.StartArray();
    for (int t = 0; t < 4; ++t) w.Int(static_cast<int>((seed >> t) & 0xff));
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  return out.GetString();
}

__attribute__((noinline)) double Walk(const rapidjson::Document& doc,
                                      std::vector<std::string>* names) {
  double sum = 0;
  for (const auto& r : doc.GetArray()) {
    sum += r["score"].GetDouble();
    for (const auto& t : r["tags"].GetArray()) sum += t.GetInt();
    names->emplace_back(r["name"].GetString(), r["name"].GetStringLength());
  }
  return sum;
}

__attribute__((noinline)) void SortNames(std::vector<std::string>* names) {
  std::sort(names->begin(), names->end());
}

__attribute__((noinline)) void Emit(const std::string& text, int fd) {
  for (size_t i = 0; i < text.size(); i += 64) {
    if (write(fd, text.data() + i, std::min<size_t>(64, text.size() - i)) < 0) abort();
  }
}

__attribute__((noinline)) double Round(int records, unsigned seed, int fd) {
  const std::string text = Generate(records, seed);
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  if (doc.HasParseError()) abort();
  std::vector<std::string> names;
  const double sum = Walk(doc, &names);
  SortNames(&names);
  Emit(text, fd);
  return sum;
}

}  // namespace work

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 20;
  const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  double sum = 0;
  for (int i = 0; i < rounds; ++i) sum += work::Round(100000, 1u + i, fd);
  printf("%g\n", sum);
  return 0;
}
