/* The label API from C: hookprof.h compiles as C, and the scopes nest and pop as documented
   (a token numbers the scope's depth on the thread; popping one pops those entered after it). */
#include <stdio.h>

#include "hookprof.h"

#define CHECK(cond)                                              \
  do {                                                           \
    if (!(cond)) {                                               \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                  \
    }                                                            \
  } while (0)

int main(void) {
  const char* const request[] = {"endpoint", "/c", "lang", "c"};
  const char* const inner[] = {"lang", "c89"};
  const int outer = hookprof_labels_push(request, 2);
  CHECK(outer == 1);
  const int nested = hookprof_labels_push(inner, 1);
  CHECK(nested == 2);
  hookprof_labels_pop(outer); /* Pops `nested` too. */
  CHECK(hookprof_labels_push(inner, 1) == 1);
  hookprof_labels_pop(1);
  hookprof_labels_pop(0);                    /* Entered nothing: harmless. */
  CHECK(hookprof_labels_push(NULL, 0) == 1); /* An empty scope is a scope too. */
  hookprof_labels_pop(1);
  puts("ok");
  return 0;
}
