// The XRay backend: programs built with clang's -fxray-instrument carry sleds (nops at function
// entries and exits) that the XRay runtime (compiler-rt, linked by -fxray-instrument) patches
// into calls of its trampolines. hookprof's trampolines (below; compiler-rt's are redirected to
// them) feed the same enter and exit hooks as -finstrument-functions, so the shadow stack, call
// tree, CPU samples, timings and traces are the same. `off` leaves the sleds unpatched: the
// program runs as if it had no hooks.
//
// The XRay symbols are weak: in a program without the XRay runtime this file does nothing.
// (From a shared library, see XRayApi.)
// XRay gives a function id, not an address: the addresses are read once into a table (from the
// sled section; the runtime's own lookup takes a lock and walks every sled). Tail calls end the
// caller (TAIL) before the callee enters.
#include "instrument/xray/xray.h"

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
#include "instrument/hooks.h"
#include "instrument/mode.h"
#include "instrument/state/thread_state.h"
#include "instrument/xray/elf_file.h"

extern "C" {
// compiler-rt's xray/xray_interface.h (clang's headers are not in every build's path): the enum
// arguments and results are ints.
__attribute__((weak)) int __xray_set_handler(void (*entry)(int32_t, int));
__attribute__((weak)) int __xray_patch();
__attribute__((weak)) int __xray_unpatch();
__attribute__((weak)) int __xray_patch_function(int32_t id);
__attribute__((weak)) int __xray_unpatch_function(int32_t id);
__attribute__((weak)) uintptr_t __xray_function_address(int32_t id);
__attribute__((weak)) size_t __xray_max_function_id();
__attribute__((weak)) void __xray_init();
// compiler-rt's trampolines, which the patched sleds call (redirected to hookprof's own).
__attribute__((weak)) void __xray_FunctionEntry();
__attribute__((weak)) void __xray_FunctionExit();
__attribute__((weak)) void __xray_FunctionTailExit();
// The linker's bounds of the sled section, when hookprof is linked into the executable.
__attribute__((weak, visibility("hidden"))) extern const char __start_xray_instr_map[];
__attribute__((weak, visibility("hidden"))) extern const char __stop_xray_instr_map[];
}

namespace hookprof {
namespace instrument {

namespace {

constexpr int kXRayEntry = 0, kXRayExit = 1, kXRayTail = 2, kXRayLogArgsEntry = 3;
constexpr int kXRayPatchSuccess = 1;

// One entry of the xray_instr_map section (compiler-rt 14, x86-64): a sled. From version 2 on,
// both addresses are relative to where they are stored.
struct SledEntry {
  uint64_t address;
  uint64_t function;
  uint8_t kind;
  uint8_t always_instrument;
  uint8_t version;
  uint8_t padding[13];
};
static_assert(sizeof(SledEntry) == 32, "XRay's sled entry is 32 bytes");

// XRay's entry points. With hookprof linked into the executable the weak references find them;
// from a shared library they cannot (compiler-rt keeps them hidden inside the executable), so
// they are looked up in the executable's symbol table instead.
struct XRayApi {
  int (*set_handler)(void (*)(int32_t, int)) = nullptr;
  int (*patch)() = nullptr;
  int (*unpatch)() = nullptr;
  int (*patch_function)(int32_t) = nullptr;  // Optional: per-function switching.
  int (*unpatch_function)(int32_t) = nullptr;
  uintptr_t (*function_address)(int32_t) = nullptr;
  size_t (*max_function_id)() = nullptr;
  void (*init)() = nullptr;
  void (*entry_trampoline)() = nullptr;
  void (*exit_trampoline)() = nullptr;
  void (*tail_trampoline)() = nullptr;
  const struct SledEntry* sleds = nullptr;  // The xray_instr_map section, if found.
  const struct SledEntry* sleds_end = nullptr;
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
// Per function id: 1 while switched off (its sleds stay nops when the others are patched).
// Mapped with g_functions when compiler-rt can patch one function; under PatchMutex.
uint8_t* g_unhooked = nullptr;
int g_own_trampolines = 0;  // Written once, before the sleds are first patched.

std::mutex& PatchMutex() {
  static auto* mu = new std::mutex;  // Never destroyed: SetMode may run during exit.
  return *mu;
}

// hookprof's own trampolines (x86-64), which compiler-rt's are redirected to (see Redirect):
// compiler-rt's save 17 registers, the flags (popf is slow) and eight vector registers on entry,
// and pass an id that the handler turns into an address and a call site it must guess; these
// save only what the function's arguments (entry, tail) or results (exit) live in, and take the
// call site from the stack. The sleds call them as:
//   entry: `mov $id, %r10d; call` at the function's first instruction: the sled's return address
//          is on top, the function's own (its call site) above it; arguments live.
//   tail:  the same before a tail call's jump: the callee's arguments live.
//   exit:  `mov $id, %r10d; jmp` in place of `ret`: the function's return address on top;
//          its results in %rax, %rdx, %xmm0, %xmm1 live.
// %r10 is the sled's; %r11 and the flags are dead at all three points (the System V ABI passes
// nothing in them), except that an indirect tail call may jump through %r11: the tail trampoline
// keeps it.
extern "C" {
void hookprof_xray_entry_trampoline() __attribute__((visibility("hidden")));
void hookprof_xray_tail_trampoline() __attribute__((visibility("hidden")));
void hookprof_xray_exit_trampoline() __attribute__((visibility("hidden")));
}

#if defined(__x86_64__)
// Saves the argument registers below the frame and reserves `pad` bytes more, `pad` chosen so
// that %rsp is 16-aligned for the vector stores and the call.
#define HOOKPROF_XRAY_SAVE_ARGUMENTS(pad)                                                \
  "  pushq %rdi\n  .cfi_adjust_cfa_offset 8\n  pushq %rsi\n  .cfi_adjust_cfa_offset 8\n" \
  "  pushq %rdx\n  .cfi_adjust_cfa_offset 8\n  pushq %rcx\n  .cfi_adjust_cfa_offset 8\n" \
  "  pushq %r8\n  .cfi_adjust_cfa_offset 8\n  pushq %r9\n  .cfi_adjust_cfa_offset 8\n"   \
  "  pushq %rax\n  .cfi_adjust_cfa_offset 8\n"                                           \
  "  subq $128+" #pad ", %rsp\n  .cfi_adjust_cfa_offset 128+" #pad                       \
  "\n"                                                                                   \
  "  movaps %xmm0, 0(%rsp)\n  movaps %xmm1, 16(%rsp)\n  movaps %xmm2, 32(%rsp)\n"        \
  "  movaps %xmm3, 48(%rsp)\n  movaps %xmm4, 64(%rsp)\n  movaps %xmm5, 80(%rsp)\n"       \
  "  movaps %xmm6, 96(%rsp)\n  movaps %xmm7, 112(%rsp)\n"
#define HOOKPROF_XRAY_RESTORE_ARGUMENTS(pad)                                             \
  "  movaps 0(%rsp), %xmm0\n  movaps 16(%rsp), %xmm1\n  movaps 32(%rsp), %xmm2\n"        \
  "  movaps 48(%rsp), %xmm3\n  movaps 64(%rsp), %xmm4\n  movaps 80(%rsp), %xmm5\n"       \
  "  movaps 96(%rsp), %xmm6\n  movaps 112(%rsp), %xmm7\n"                                \
  "  addq $128+" #pad ", %rsp\n  .cfi_adjust_cfa_offset -128-" #pad                      \
  "\n"                                                                                   \
  "  popq %rax\n  .cfi_adjust_cfa_offset -8\n  popq %r9\n  .cfi_adjust_cfa_offset -8\n"  \
  "  popq %r8\n  .cfi_adjust_cfa_offset -8\n  popq %rcx\n  .cfi_adjust_cfa_offset -8\n"  \
  "  popq %rdx\n  .cfi_adjust_cfa_offset -8\n  popq %rsi\n  .cfi_adjust_cfa_offset -8\n" \
  "  popq %rdi\n  .cfi_adjust_cfa_offset -8\n"

// On arrival from a sled's call %rsp is 16-aligned; 7 pushes and 128 + 8 bytes keep it so. The
// entry trampoline passes the call site, 7 * 8 + 136 + 8 bytes up.
asm(R"(
  .text
  .p2align 4
  .type hookprof_xray_entry_trampoline, @function
hookprof_xray_entry_trampoline:
  .cfi_startproc
)" HOOKPROF_XRAY_SAVE_ARGUMENTS(8) R"(
  movl %r10d, %edi
  movq 200(%rsp), %rsi
  call hookprof_xray_enter
)" HOOKPROF_XRAY_RESTORE_ARGUMENTS(8) R"(
  ret
  .cfi_endproc
  .size hookprof_xray_entry_trampoline, .-hookprof_xray_entry_trampoline

  .p2align 4
  .type hookprof_xray_tail_trampoline, @function
hookprof_xray_tail_trampoline:
  .cfi_startproc
  pushq %r11
  .cfi_adjust_cfa_offset 8
)" HOOKPROF_XRAY_SAVE_ARGUMENTS(0) R"(
  movl %r10d, %edi
  call hookprof_xray_exit
)" HOOKPROF_XRAY_RESTORE_ARGUMENTS(0) R"(
  popq %r11
  .cfi_adjust_cfa_offset -8
  ret
  .cfi_endproc
  .size hookprof_xray_tail_trampoline, .-hookprof_xray_tail_trampoline

  .p2align 4
  .type hookprof_xray_exit_trampoline, @function
hookprof_xray_exit_trampoline:
  .cfi_startproc
  pushq %rax
  .cfi_adjust_cfa_offset 8
  pushq %rdx
  .cfi_adjust_cfa_offset 8
  subq $40, %rsp
  .cfi_adjust_cfa_offset 40
  movaps %xmm0, 0(%rsp)
  movaps %xmm1, 16(%rsp)
  movl %r10d, %edi
  call hookprof_xray_exit
  movaps 0(%rsp), %xmm0
  movaps 16(%rsp), %xmm1
  addq $40, %rsp
  .cfi_adjust_cfa_offset -40
  popq %rdx
  .cfi_adjust_cfa_offset -8
  popq %rax
  .cfi_adjust_cfa_offset -8
  ret
  .cfi_endproc
  .size hookprof_xray_exit_trampoline, .-hookprof_xray_exit_trampoline
)");
#endif

// compiler-rt's handler interface, for trampolines left to compiler-rt (see RedirectTrampolines)
// and argument-logging sleds. Its entry trampoline (compiler-rt 14, x86-64) saves 0x100 bytes of
// registers under its return address, which points just past the function's patched entry sled (11
// bytes: mov $id, %r10d; call); the function's own return address, its call site, is right above.
// Checked per call: another layout gives no call site (0), never a wrong one.
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
  if (status != kXRayPatchSuccess) return;
  g_patched = want;
  // __xray_patch patches every sled: the functions switched off go back to their nops.
  for (size_t id = 1; want && g_unhooked != nullptr && id <= g_max_id; ++id) {
    if (g_unhooked[id] != 0) g_api.unpatch_function(static_cast<int32_t>(id));
  }
}

// Makes compiler-rt's trampoline at `from` jump to `to`: `jmp *0(%rip)` followed by the
// absolute address (14 bytes, no register touched, any distance), written as XRay writes its
// sleds (the page made writable and executable for the moment).
HOOKPROF_NO_INSTRUMENT bool Redirect(void (*from)(), void (*to)()) {
#if defined(__x86_64__)
  unsigned char code[14] = {0xff, 0x25, 0, 0, 0, 0};
  const uintptr_t target = reinterpret_cast<uintptr_t>(to);
  memcpy(code + 6, &target, sizeof(target));
  const uintptr_t at = reinterpret_cast<uintptr_t>(from);
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = at & ~(page - 1);
  const uintptr_t end = (at + sizeof(code) + page - 1) & ~(page - 1);
  void* const region = reinterpret_cast<void*>(begin);
  if (mprotect(region, end - begin, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) return false;
  memcpy(reinterpret_cast<void*>(at), code, sizeof(code));
  mprotect(region, end - begin, PROT_READ | PROT_EXEC);
  __builtin___clear_cache(reinterpret_cast<char*>(at), reinterpret_cast<char*>(at + sizeof(code)));
  return true;
#else
  (void)from;
  (void)to;
  return false;
#endif
}

// Before any sled is patched (no thread is in a trampoline). A trampoline left to compiler-rt
// (not found, or its page could not be made writable) calls Handler: slower, same records.
HOOKPROF_NO_INSTRUMENT void RedirectTrampolines(const XRayApi& api) {
  const struct {
    void (*from)();
    void (*to)();
  } pairs[] = {{api.entry_trampoline, &hookprof_xray_entry_trampoline},
               {api.exit_trampoline, &hookprof_xray_exit_trampoline},
               {api.tail_trampoline, &hookprof_xray_tail_trampoline}};
  for (const auto& p : pairs) {
    if (p.from != nullptr && Redirect(p.from, p.to)) ++g_own_trampolines;
  }
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
  const ElfFile exe("/proc/self/exe");
  // Only programs with sleds (an xray_instr_map section) are worth a look at their symbols.
  const Elf64_Shdr* sleds = exe.Section("xray_instr_map");
  if (sleds == nullptr) return;
  uintptr_t bias = 0;
  dl_iterate_phdr(&ExecutableBias, &bias);
  if ((sleds->sh_flags & SHF_ALLOC) != 0) {
    api->sleds = reinterpret_cast<const SledEntry*>(sleds->sh_addr + bias);
    api->sleds_end = api->sleds + sleds->sh_size / sizeof(SledEntry);
  }
  exe.ForEachFunction(false, [api, bias](const ElfFile::Function& f) {
    const uintptr_t at = f.value + bias;
    const char* name = f.name;
    if (strcmp(name, "__xray_set_handler") == 0) Set(&api->set_handler, at);
    if (strcmp(name, "__xray_patch") == 0) Set(&api->patch, at);
    if (strcmp(name, "__xray_unpatch") == 0) Set(&api->unpatch, at);
    if (strcmp(name, "__xray_patch_function") == 0) Set(&api->patch_function, at);
    if (strcmp(name, "__xray_unpatch_function") == 0) Set(&api->unpatch_function, at);
    if (strcmp(name, "__xray_function_address") == 0) Set(&api->function_address, at);
    if (strcmp(name, "__xray_max_function_id") == 0) Set(&api->max_function_id, at);
    if (strcmp(name, "__xray_init") == 0) Set(&api->init, at);
    if (strcmp(name, "__xray_FunctionEntry") == 0) Set(&api->entry_trampoline, at);
    if (strcmp(name, "__xray_FunctionExit") == 0) Set(&api->exit_trampoline, at);
    if (strcmp(name, "__xray_FunctionTailExit") == 0) Set(&api->tail_trampoline, at);
  });
}

// Function id -> address for ids 1..max, in one pass over the sleds: compiler-rt numbers the
// functions in the order their sleds appear, a new id wherever the sled's function changes. Its
// own lookup (__xray_function_address) walks the sleds from the start for each id: quadratic,
// seconds at start-up for a program of 100,000 functions. False (nothing trusted) when the
// section is not found or the walk disagrees with compiler-rt on the count or on a sample of ids.
HOOKPROF_NO_INSTRUMENT bool FunctionsFromSleds(const XRayApi& api, size_t max, uintptr_t* out) {
  if (api.sleds == nullptr) return false;
  size_t id = 0;
  uintptr_t last = 0;
  for (const SledEntry* e = api.sleds; e < api.sleds_end; ++e) {
    const uintptr_t fn =
        e->version >= 2 ? reinterpret_cast<uintptr_t>(&e->function) + e->function : e->function;
    if (fn == last) continue;
    last = fn;
    if (++id > max) return false;
    out[id] = fn;
  }
  if (id != max) return false;
  for (const size_t check : {size_t{1}, (max + 1) / 2, max}) {
    if (api.function_address(static_cast<int32_t>(check)) != out[check]) return false;
  }
  return true;
}

// Before the default constructors (autostart's Use() among them applies HOOKPROF_UNHOOK).
HOOKPROF_NO_INSTRUMENT __attribute__((constructor(101))) void InstallXRay() {
  XRayApi api;
  api.set_handler = __xray_set_handler;
  api.patch = __xray_patch;
  api.unpatch = __xray_unpatch;
  api.patch_function = __xray_patch_function;
  api.unpatch_function = __xray_unpatch_function;
  api.function_address = __xray_function_address;
  api.max_function_id = __xray_max_function_id;
  api.init = __xray_init;
  api.entry_trampoline = __xray_FunctionEntry;
  api.exit_trampoline = __xray_FunctionExit;
  api.tail_trampoline = __xray_FunctionTailExit;
  // As pointers: the section bounds are weak arrays, null when the program has no sleds.
  const char* const start = __start_xray_instr_map;
  const char* const stop = __stop_xray_instr_map;
  if (start != nullptr && stop > start) {
    api.sleds = reinterpret_cast<const SledEntry*>(start);
    api.sleds_end = reinterpret_cast<const SledEntry*>(stop);
  }
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
  if (api.patch_function != nullptr && api.unpatch_function != nullptr) {
    void* flags =
        mmap(nullptr, max + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (flags != MAP_FAILED) g_unhooked = static_cast<uint8_t*>(flags);
  }
  if (!FunctionsFromSleds(api, max, g_functions)) {
    for (size_t id = 1; id <= max; ++id) {
      g_functions[id] = api.function_address(static_cast<int32_t>(id));
    }
  }
  g_api = api;
  g_max_id = max;
  api.set_handler(&Handler);  // Serves the sleds our trampolines do not (argument logging).
  RedirectTrampolines(api);
  SetModeChangedCallback(&ApplyMode);
  ApplyMode(GetMode());
}

}  // namespace

bool XRaySledsPatched() {
  std::lock_guard<std::mutex> lock(PatchMutex());
  return g_patched;
}

size_t XRayFunctions() { return g_max_id; }

uintptr_t XRayFunctionAddress(size_t id) { return id >= 1 && id <= g_max_id ? g_functions[id] : 0; }

bool XRayCanSwitchFunctions() { return g_unhooked != nullptr; }

bool XRayFunctionHooked(size_t id) {
  std::lock_guard<std::mutex> lock(PatchMutex());
  return g_unhooked == nullptr || id < 1 || id > g_max_id || g_unhooked[id] == 0;
}

bool SetXRayFunctionHooked(size_t id, bool hooked) {
  std::lock_guard<std::mutex> lock(PatchMutex());
  if (g_unhooked == nullptr || id < 1 || id > g_max_id) return false;
  if ((g_unhooked[id] == 0) == hooked) return true;
  // compiler-rt writes a sled's first two bytes in one atomic store, so a thread in the function
  // sees the old sled or the new; a frame whose exit sled became nops is popped as after a throw.
  const auto patch = hooked ? g_api.patch_function : g_api.unpatch_function;
  if (g_patched && patch(static_cast<int32_t>(id)) != kXRayPatchSuccess) return false;
  g_unhooked[id] = hooked ? 0 : 1;
  return true;
}

int XRayOwnTrampolines() { return g_own_trampolines; }

}  // namespace instrument
}  // namespace hookprof

// Called by the trampolines above with the sled's function id.
extern "C" HOOKPROF_NO_INSTRUMENT __attribute__((used, visibility("hidden"))) void
hookprof_xray_enter(uint32_t id, uintptr_t site) {
  namespace hi = hookprof::instrument;
  if (HOOKPROF_UNLIKELY(id - 1 >= hi::g_max_id)) return;
  hi::XRayEnter(reinterpret_cast<void*>(hi::g_functions[id]), reinterpret_cast<void*>(site));
}

extern "C" HOOKPROF_NO_INSTRUMENT __attribute__((used, visibility("hidden"))) void
hookprof_xray_exit(uint32_t id) {
  namespace hi = hookprof::instrument;
  if (HOOKPROF_UNLIKELY(id - 1 >= hi::g_max_id)) return;
  hi::XRayExit(reinterpret_cast<void*>(hi::g_functions[id]));
}
