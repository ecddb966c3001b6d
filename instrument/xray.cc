// The XRay backend: programs built with clang's -fxray-instrument carry sleds (nops at function
// entries and exits) that the XRay runtime (compiler-rt, linked by -fxray-instrument) patches
// into calls of one handler. hookprof installs a handler that feeds the same enter and exit
// hooks as -finstrument-functions, so the shadow stack, call tree, CPU samples, timings and
// traces are the same. `off` leaves the sleds unpatched: the program runs as if it had no hooks.
//
// The XRay symbols are weak: in a program without the XRay runtime this file does nothing.
// (From a shared library, see XRayApi.)
// XRay gives a function id, not an address: the addresses are read once into a table (the
// runtime's own lookup takes a lock). XRay passes no call site: the handler reads it from the
// stack above the entry trampoline (see Handler). Tail calls end the caller (TAIL) before the
// callee enters.
#include "instrument/xray.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "instrument/attributes.h"
#include "instrument/thread_state.h"

extern "C" {
// compiler-rt's xray/xray_interface.h (clang's headers are not in every build's path): the enum
// arguments and results are ints.
__attribute__((weak)) int __xray_set_handler(void (*entry)(int32_t, int));
__attribute__((weak)) int __xray_patch();
__attribute__((weak)) int __xray_unpatch();
__attribute__((weak)) uintptr_t __xray_function_address(int32_t id);
__attribute__((weak)) size_t __xray_max_function_id();
__attribute__((weak)) void __xray_init();
}

namespace hookprof {
namespace instrument {

namespace {

constexpr int kXRayEntry = 0, kXRayExit = 1, kXRayTail = 2, kXRayLogArgsEntry = 3;
constexpr int kXRayPatchSuccess = 1;

// XRay's entry points. With hookprof linked into the executable the weak references find them;
// from a shared library they cannot (compiler-rt keeps them hidden inside the executable), so
// they are looked up in the executable's symbol table instead.
struct XRayApi {
  int (*set_handler)(void (*)(int32_t, int)) = nullptr;
  int (*patch)() = nullptr;
  int (*unpatch)() = nullptr;
  uintptr_t (*function_address)(int32_t) = nullptr;
  size_t (*max_function_id)() = nullptr;
  void (*init)() = nullptr;
  bool ok() const {
    return set_handler != nullptr && patch != nullptr && unpatch != nullptr &&
           function_address != nullptr && max_function_id != nullptr;
  }
};
XRayApi g_api;

// Function id -> entry address; written before the handler is installed, then read only.
uintptr_t* g_functions = nullptr;
size_t g_max_id = 0;
bool g_patched = false;  // Under PatchMutex.

std::mutex& PatchMutex() {
  static auto* mu = new std::mutex;  // Never destroyed: SetMode may run during exit.
  return *mu;
}

// The entry trampoline (compiler-rt 14, x86-64) saves 0x100 bytes of registers under its return
// address, which points just past the function's patched entry sled (11 bytes: mov $id, %r10d;
// call); the function's own return address, its call site, is right above. Checked per call:
// another layout gives no call site (0), never a wrong one.
constexpr size_t kTrampolineSaveBytes = 0x100;
constexpr uintptr_t kEntrySledBytes = 11;

HOOKPROF_NO_INSTRUMENT void Handler(int32_t id, int type) {
  if (HOOKPROF_UNLIKELY(static_cast<uint32_t>(id) - 1 >= g_max_id)) return;
  const uintptr_t address = g_functions[id];
  void* fn = reinterpret_cast<void*>(address);
  if (type == kXRayEntry || type == kXRayLogArgsEntry) {
    const uintptr_t* above = reinterpret_cast<const uintptr_t*>(
        static_cast<const char*>(__builtin_dwarf_cfa()) + kTrampolineSaveBytes);
    const uintptr_t site = above[0] == address + kEntrySledBytes ? above[1] : 0;
    XRayEnter(fn, reinterpret_cast<void*>(site));
  } else if (type == kXRayExit || type == kXRayTail) {
    XRayExit(fn);
  }
}

// Sleds patched in every recording mode, unpatched in `off`. Re-reads the mode under the lock,
// so concurrent switches end in the last one's state.
HOOKPROF_NO_INSTRUMENT void ApplyMode(Mode) {
  std::lock_guard<std::mutex> lock(PatchMutex());
  const bool want = GetMode() != kModeOff;
  if (want == g_patched) return;
  const int status = want ? g_api.patch() : g_api.unpatch();
  if (status == kXRayPatchSuccess) g_patched = want;
}

HOOKPROF_NO_INSTRUMENT int ExecutableBias(struct dl_phdr_info* info, size_t, void* out) {
  *static_cast<uintptr_t*>(out) = info->dlpi_addr;
  return 1;  // The first object is the executable.
}

template <typename F>
HOOKPROF_NO_INSTRUMENT void Set(F** slot, uintptr_t address) {
  *slot = reinterpret_cast<F*>(address);
}

HOOKPROF_NO_INSTRUMENT void FromExecutableSymbols(XRayApi* api) {
  const int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  void* map = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    map = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  close(fd);
  if (map == MAP_FAILED) return;
  const char* data = static_cast<const char*>(map);
  const size_t size = st.st_size;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(data);
  uintptr_t bias = 0;
  dl_iterate_phdr(&ExecutableBias, &bias);
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_shoff < size &&
      eh->e_shnum * sizeof(Elf64_Shdr) <= size - eh->e_shoff) {
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(data + eh->e_shoff);
    // Only programs with sleds (an xray_instr_map section) are worth a look at their symbols.
    bool sleds = false;
    if (eh->e_shstrndx < eh->e_shnum && sh[eh->e_shstrndx].sh_offset < size) {
      const Elf64_Shdr& names = sh[eh->e_shstrndx];
      const size_t room = std::min<size_t>(names.sh_size, size - names.sh_offset);
      for (int i = 0; i < eh->e_shnum && !sleds; ++i) {
        sleds = sh[i].sh_name < room && strncmp(data + names.sh_offset + sh[i].sh_name,
                                                "xray_instr_map", room - sh[i].sh_name) == 0;
      }
    }
    for (int i = 0; sleds && i < eh->e_shnum; ++i) {
      if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
      const Elf64_Shdr& names = sh[sh[i].sh_link];
      if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset ||
          names.sh_offset > size || names.sh_size > size - names.sh_offset) {
        continue;
      }
      const auto* syms = reinterpret_cast<const Elf64_Sym*>(data + sh[i].sh_offset);
      for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k) {
        if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || syms[k].st_value == 0 ||
            syms[k].st_name >= names.sh_size) {
          continue;
        }
        const char* name = data + names.sh_offset + syms[k].st_name;
        if (strnlen(name, names.sh_size - syms[k].st_name) == names.sh_size - syms[k].st_name) {
          continue;  // Not terminated inside the table.
        }
        const uintptr_t at = syms[k].st_value + bias;
        if (strcmp(name, "__xray_set_handler") == 0) Set(&api->set_handler, at);
        if (strcmp(name, "__xray_patch") == 0) Set(&api->patch, at);
        if (strcmp(name, "__xray_unpatch") == 0) Set(&api->unpatch, at);
        if (strcmp(name, "__xray_function_address") == 0) Set(&api->function_address, at);
        if (strcmp(name, "__xray_max_function_id") == 0) Set(&api->max_function_id, at);
        if (strcmp(name, "__xray_init") == 0) Set(&api->init, at);
      }
    }
  }
  munmap(map, size);
}

HOOKPROF_NO_INSTRUMENT __attribute__((constructor)) void InstallXRay() {
  XRayApi api;
  api.set_handler = __xray_set_handler;
  api.patch = __xray_patch;
  api.unpatch = __xray_unpatch;
  api.function_address = __xray_function_address;
  api.max_function_id = __xray_max_function_id;
  api.init = __xray_init;
  if (!api.ok()) {
    api = XRayApi();
    FromExecutableSymbols(&api);
    if (!api.ok()) return;  // No XRay runtime (or a stripped executable): nothing to do.
  }
  if (api.init != nullptr) api.init();  // Idempotent; our constructor may run first.
  const size_t max = api.max_function_id();
  if (max == 0) return;  // The runtime is linked, but nothing has sleds.
  void* mem = mmap(nullptr, (max + 1) * sizeof(uintptr_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  g_functions = static_cast<uintptr_t*>(mem);
  for (size_t id = 1; id <= max; ++id) {
    g_functions[id] = api.function_address(static_cast<int32_t>(id));
  }
  g_api = api;
  g_max_id = max;
  api.set_handler(&Handler);
  SetModeChangedCallback(&ApplyMode);
  ApplyMode(GetMode());
}

}  // namespace

bool XRaySledsPatched() {
  std::lock_guard<std::mutex> lock(PatchMutex());
  return g_patched;
}

size_t XRayFunctions() { return g_max_id; }

}  // namespace instrument
}  // namespace hookprof
