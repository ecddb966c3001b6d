// pthread_create, interposed (and so std::thread): each new thread records which thread
// created it and where that thread was (its top call-path node), for the threadcreate profile,
// and starts with its creator's labels (labels.h), as a goroutine does.
// The real pthread_create is the next definition in lookup order (the C library's).
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "instrument/attributes.h"
#include "instrument/labels.h"
#include "instrument/stack_table.h"
#include "instrument/state/thread_state.h"
#include "instrument/unwind.h"

namespace hookprof {
namespace instrument {
namespace {

using CreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

struct Start {
  void* (*routine)(void*);
  void* arg;
  const ThreadState* creator;
  uint32_t creator_node;
  uint32_t labels;
};

HOOKPROF_NO_INSTRUMENT CreateFn RealCreate() {
  static CreateFn real = reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  return real;
}

// Whether new threads may start in the Trampoline. Not when hookprof is built with TSan and
// TSan's interceptor comes first in lookup order (hookprof in a shared library: Bazel's default
// for cc_test): the program's pthread_create then reaches this one through TSan's, and the
// Trampoline, instrumented by TSan, would run before TSan has set the new thread up (seen: a
// fault in __tsan_func_entry). Such threads start untouched, without their creator's labels and
// creation stack, and hookprof says so once.
HOOKPROF_NO_INSTRUMENT bool MayWrapThreads() {
#if defined(__SANITIZE_THREAD__)
  static const bool first = [] {
    // The first pthread_create in lookup order, and where this object is (&pthread_create would
    // be the first one's too: a shared object's own address of an exported function is not).
    Dl_info first_info, own_info;
    const bool ours = dladdr(dlsym(RTLD_DEFAULT, "pthread_create"), &first_info) != 0 &&
                      dladdr(reinterpret_cast<void*>(&RealCreate), &own_info) != 0 &&
                      first_info.dli_fbase == own_info.dli_fbase;
    if (!ours) {
      static const char kWhy[] =
          "hookprof: TSan's pthread_create comes before hookprof's (hookprof is a shared library "
          "under -fsanitize=thread): new threads start without their creator's labels and "
          "creation stack\n";
      const ssize_t written = write(2, kWhy, sizeof(kWhy) - 1);
      (void)written;  // Nothing to do if stderr is gone.
    }
    return ours;
  }();
  return first;
#else
  return true;
#endif
}

HOOKPROF_NO_INSTRUMENT void* Trampoline(void* p) {
  Start start = *static_cast<Start*>(p);
  free(p);
  {
    ScopedGuard guard;  // hookprof's own allocations: not the program's.
    NoteCurrentThreadStack();
  }
  if (ThreadState* s = CurrentThreadState(); s != nullptr && s->nodes != nullptr) {
    s->creator_node = start.creator_node;
    __atomic_store_n(&s->creator, start.creator, __ATOMIC_RELEASE);
    if (start.labels != 0) {
      // The labels' pseudo-frame lies in this frame, above every frame of the routine.
      uintptr_t sp;
      asm volatile("mov %%rsp, %0" : "=r"(sp));
      StartThreadLabels(s, start.labels, static_cast<uint32_t>(sp));
    }
  }
  void* result = start.routine(start.arg);
  asm volatile("" : "+r"(result));  // Not a tail call: the routine runs below this frame.
  return result;
}

}  // namespace
}  // namespace instrument
}  // namespace hookprof

#if HOOKPROF_INTERPOSE_PTHREAD
extern "C" HOOKPROF_NO_INSTRUMENT int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                                                     void* (*routine)(void*), void* arg) {
  namespace hi = hookprof::instrument;
  HOOKPROF_KEEP_FRAME_POINTER();  // The creator's stack is walked from here (unwind.h).
  hi::CreateFn real = hi::RealCreate();
  if (real == nullptr) return EAGAIN;
  hi::ThreadState* creator = hi::t_state;
  // hookprof's own threads start theirs untouched: they are never recorded.
  if ((creator != nullptr && creator->internal) || !hi::MayWrapThreads()) {
    return real(thread, attr, routine, arg);
  }
  if (creator == nullptr) creator = hi::CurrentThreadState();
  auto* start = static_cast<hi::Start*>(malloc(sizeof(hi::Start)));
  if (start == nullptr || creator == nullptr || creator->nodes == nullptr) {
    free(start);
    return real(thread, attr, routine, arg);
  }
  start->routine = routine;
  start->arg = arg;
  start->creator = creator;
  start->labels = hi::LabelSetOfThread(creator);
  start->creator_node =
      hi::CurrentStackKey(reinterpret_cast<uintptr_t>(__builtin_return_address(0)), true).node;
  const int rc = real(thread, attr, &hi::Trampoline, start);
  if (rc != 0) free(start);
  return rc;
}
#endif  // HOOKPROF_INTERPOSE_PTHREAD
