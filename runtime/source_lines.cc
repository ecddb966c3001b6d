#include "runtime/source_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <tuple>
#include <utility>

extern char** environ;

namespace hookprof {
namespace runtime {
namespace {

constexpr size_t kMaxCached = 1 << 20;

std::mutex& CacheMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

// (file, build id, ELF address) -> line. Never destroyed: connection threads may still read it
// while the program exits.
std::map<std::tuple<std::string, std::string, uint64_t>, SourceLine>& Cache() {
  static auto* cache = new std::map<std::tuple<std::string, std::string, uint64_t>, SourceLine>;
  return *cache;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Runs `addr2line -f -e file` on `elf_addresses`; on success fills `lines` (same order).
bool RunAddr2line(const std::string& file, const std::vector<uint64_t>& elf_addresses,
                  std::vector<SourceLine>* lines, std::string* error) {
  std::string input;
  char buf[32];
  for (uint64_t a : elf_addresses) {
    snprintf(buf, sizeof(buf), "0x%llx\n", static_cast<unsigned long long>(a));
    input += buf;
  }
  // The addresses go through a memory file, so the child never waits on us while we wait on it.
  const int in = memfd_create("hookprof-addresses", MFD_CLOEXEC);
  int out[2];
  if (in < 0 || !WriteAll(in, input) || lseek(in, 0, SEEK_SET) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    if (in >= 0) close(in);
    *error = "cannot set up addr2line's input and output";
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string exe = "addr2line", dash_f = "-f", dash_e = "-e";
  std::string target = file;
  char* argv[] = {&exe[0], &dash_f[0], &dash_e[0], &target[0], nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "addr2line", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    *error = "cannot run addr2line (Debian package binutils): " + std::string(strerror(rc));
    return false;
  }
  std::string text;
  char chunk[65536];
  for (;;) {
    const ssize_t n = read(out[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(chunk, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // Two lines per address: the function, then file:line (?? and 0 when unknown).
  lines->assign(elf_addresses.size(), SourceLine());
  size_t pos = 0;
  for (size_t i = 0; i < elf_addresses.size(); ++i) {
    const size_t fn_end = text.find('\n', pos);
    if (fn_end == std::string::npos) break;
    const size_t loc_end = text.find('\n', fn_end + 1);
    if (loc_end == std::string::npos) break;
    std::string loc = text.substr(fn_end + 1, loc_end - fn_end - 1);
    pos = loc_end + 1;
    const size_t note = loc.find(" (");  // " (discriminator N)"
    if (note != std::string::npos) loc.resize(note);
    const size_t colon = loc.rfind(':');
    if (colon == std::string::npos) continue;
    const std::string path = loc.substr(0, colon);
    const long long number = atoll(loc.c_str() + colon + 1);
    if (path == "??" || number <= 0) continue;
    // Bazel maps the build directory to /proc/self/cwd in debug info, which would name the
    // reader's own directory: keep such paths relative to the workspace instead.
    constexpr char kBuildDir[] = "/proc/self/cwd/";
    (*lines)[i].file = path.compare(0, sizeof(kBuildDir) - 1, kBuildDir) == 0
                           ? path.substr(sizeof(kBuildDir) - 1)
                           : path;
    (*lines)[i].line = number;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = "addr2line failed on " + file;
    return false;
  }
  return true;
}

}  // namespace

bool ResolveSourceLines(const Symbolizer& symbolizer, const std::vector<uint64_t>& addresses,
                        std::unordered_map<uint64_t, SourceLine>* out, std::string* error) {
  // Per mapping: the addresses not yet cached.
  std::map<int, std::vector<uint64_t>> todo;
  {
    std::lock_guard<std::mutex> lock(CacheMutex());
    for (uint64_t a : addresses) {
      const int m = symbolizer.FindMapping(a);
      if (m < 0 || !symbolizer.mappings()[m].has_load_bias) continue;
      const Mapping& mapping = symbolizer.mappings()[m];
      auto it =
          Cache().find(std::make_tuple(mapping.file, mapping.build_id, a - mapping.load_bias));
      if (it != Cache().end()) {
        (*out)[a] = it->second;
      } else {
        todo[m].push_back(a);
      }
    }
  }
  for (auto& [m, runtime_addresses] : todo) {
    const Mapping& mapping = symbolizer.mappings()[m];
    std::vector<uint64_t> elf;
    for (uint64_t a : runtime_addresses) elf.push_back(a - mapping.load_bias);
    // The mapped file itself, as the symbolizer reads it (right even after a deployment
    // replaced the path), through this process's /proc entry, which addr2line may open as the
    // same user; the path where that is refused.
    char mapped[96];
    snprintf(mapped, sizeof(mapped), "/proc/%d/map_files/%llx-%llx", static_cast<int>(getpid()),
             static_cast<unsigned long long>(mapping.start),
             static_cast<unsigned long long>(mapping.limit));
    const std::string file = access(mapped, R_OK) == 0 ? mapped : mapping.file;
    std::vector<SourceLine> lines;
    if (!RunAddr2line(file, elf, &lines, error)) return false;
    std::lock_guard<std::mutex> lock(CacheMutex());
    if (Cache().size() + lines.size() > kMaxCached) Cache().clear();
    for (size_t i = 0; i < lines.size(); ++i) {
      Cache()[std::make_tuple(mapping.file, mapping.build_id, elf[i])] = lines[i];
      (*out)[runtime_addresses[i]] = lines[i];
    }
  }
  return true;
}

}  // namespace runtime
}  // namespace hookprof
