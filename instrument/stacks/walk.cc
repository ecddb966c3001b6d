#include "instrument/stacks/walk.h"

#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "instrument/attributes.h"
#include "instrument/stacks/frame_rules.h"
#include "instrument/stacks/safe_read.h"

namespace hookprof {
namespace instrument {
namespace {

// A frame larger than this is taken for garbage (a frame pointer that is data).
constexpr uintptr_t kMaxFrameBytes = 256 << 10;

// The current thread's stack, [lo, hi), where NoteCurrentThreadStack found it; 0 if unknown.
__thread uintptr_t t_stack_lo __attribute__((tls_model("initial-exec"))) = 0;
__thread uintptr_t t_stack_hi __attribute__((tls_model("initial-exec"))) = 0;

// Reads words of the stack being walked, which may hold garbage where a frame pointer was
// expected. Between the walk's first %rsp and the top of the thread's stack every word is mapped
// and read directly; anything else (a frame pointer that is data, a stack of the program's own
// making) goes through SafeRead (a system call, no fault) once per page, and a page it found
// mapped is read directly afterwards.
class StackReader {
 public:
  HOOKPROF_NO_INSTRUMENT explicit StackReader(uintptr_t sp) {
    if (sp >= t_stack_lo && sp < t_stack_hi) {
      lo_ = sp;
      hi_ = t_stack_hi;
    }
  }

  HOOKPROF_NO_INSTRUMENT HOOKPROF_READS_ANY_STACK bool Read(uintptr_t address, uintptr_t* out) {
    if (address >= lo_ && address < hi_ && hi_ - address >= sizeof(*out)) {
      *out = *reinterpret_cast<const uintptr_t*>(address);
      return true;
    }
    const uintptr_t page = address & ~uintptr_t{4095};
    for (int i = 0; i < kPages; ++i) {
      if (pages_[i] == page) {
        *out = *reinterpret_cast<const uintptr_t*>(address);
        return true;
      }
    }
    const int saved_errno = errno;  // A signal handler's system calls leave errno as it was.
    const bool ok = SafeRead(address, out, sizeof(*out));
    errno = saved_errno;
    if (ok) pages_[next_++ % kPages] = page;
    return ok;
  }

 private:
  static constexpr int kPages = 4;
  uintptr_t lo_ = 0, hi_ = 0;
  uintptr_t pages_[kPages] = {1, 1, 1, 1};  // No page starts at 1.
  unsigned next_ = 0;
};

// The main thread's stack, noted as the library is loaded (on the main thread when the program
// starts with it; a library loaded later by another thread leaves it unknown).
__attribute__((constructor)) HOOKPROF_NO_INSTRUMENT void NoteMainThreadStack() {
  if (syscall(SYS_gettid) == getpid()) NoteCurrentThreadStack();
}

}  // namespace

HOOKPROF_NO_INSTRUMENT void NoteCurrentThreadStack() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* lo = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &lo, &size) == 0 && lo != nullptr) {
    t_stack_lo = reinterpret_cast<uintptr_t>(lo);
    t_stack_hi = t_stack_lo + size;
  }
  pthread_attr_destroy(&attr);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_READS_ANY_STACK int WalkFrames(uintptr_t pc, uintptr_t sp,
                                                               uintptr_t fp, bool interrupted,
                                                               uintptr_t* out, int max) {
  StackReader stack(sp);
  int n = 0;
  while (n < max) {
    const FrameRow rule = FrameRuleAt(interrupted ? pc : pc - 1);
    interrupted = false;
    if (rule.kind == kRuleEnd) break;
    uintptr_t cfa = 0, caller_fp = fp;
    if (rule.kind == kRuleRsp) {
      cfa = sp + rule.cfa_offset;
    } else {
      if (fp < sp) break;  // A frame pointer below the stack pointer is data.
      cfa = fp + (rule.kind == kRuleRbp ? rule.cfa_offset : 16);
    }
    if (cfa <= sp || cfa - sp > kMaxFrameBytes || (cfa & 7) != 0) break;
    uintptr_t ra = 0;
    if (!stack.Read(cfa - 8, &ra) || ra < 4096) break;
    const unsigned slot = rule.kind == kRuleNone ? 2 : rule.rbp_slot;  // [fp] is the caller's.
    if (8 * slot > cfa - sp) break;  // Every word a step reads lies in its frame.
    if (slot != 0 && !stack.Read(cfa - 8 * slot, &caller_fp)) break;
    out[n++] = ra;
    pc = ra;
    sp = cfa;
    fp = caller_fp;
  }
  return n;
}

}  // namespace instrument
}  // namespace hookprof
