#include "instrument/stacks/safe_read.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "instrument/attributes.h"

namespace hookprof {
namespace instrument {

HOOKPROF_NO_INSTRUMENT bool SafeRead(uintptr_t address, void* out, size_t n) {
  iovec local{out, n};
  iovec remote{reinterpret_cast<void*>(address), n};
  // Every argument as a long: syscall() is variadic, and an int leaves a register's upper half
  // undefined (EINVAL, seen under clang).
  const ssize_t got =
      syscall(SYS_process_vm_readv, static_cast<long>(getpid()), &local, 1L, &remote, 1L, 0L);
  if (got == static_cast<ssize_t>(n)) return true;
  if (got < 0 && (errno == EPERM || errno == ENOSYS)) {
    // Refused (a seccomp policy): mapped pages only.
    unsigned char vec[2];
    const uintptr_t page = address & ~uintptr_t{4095};
    const size_t len = ((address + n + 4095) & ~uintptr_t{4095}) - page;
    if (len > 2 * 4096 || mincore(reinterpret_cast<void*>(page), len, vec) != 0) return false;
    memcpy(out, reinterpret_cast<const void*>(address), n);
    return true;
  }
  return false;
}

}  // namespace instrument
}  // namespace hookprof
