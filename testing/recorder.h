// Exact counts for tests: how many times functions were called, how many allocations were
// made and how many locks were contended while a Recorder was alive. Counts are exact (the
// hooks count every call; allocations are sampled at rate 1 while a recorder records), so a
// test can assert them on a busy machine without flaking. hookprof/testing.h adds GoogleTest
// matchers; this header needs nothing but hookprof.
//
//   hookprof::testing::Recorder r;          // counts this thread's work from here
//   store.Get("k");
//   r.Calls("db::Lookup")                    // 3: overloads and template arguments summed
//
// While any recorder is alive, a program in mode `off` records in `profile` mode, the heap
// sampler samples every allocation and the mutex profile keeps every contention; the last
// recorder to end puts back what was there before (unless someone changed it meanwhile).
// Thread-safety: a Recorder is used by one thread at a time; recorders on several threads and
// nested recorders are fine.
#ifndef HOOKPROF_TESTING_RECORDER_H_
#define HOOKPROF_TESTING_RECORDER_H_

#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

namespace hookprof {
namespace testing {

// Whose work a recorder counts.
enum Threads { kThisThread, kAllThreads };

// Calls (or allocations, or contentions) on one call path: "db::Lookup <- Handler::Get <- main".
struct PathCount {
  std::string path;
  uint64_t count = 0;
};

// A count and where it came from. Converts to the number, so it compares as one:
// EXPECT_EQ(r.Calls("f"), 7000u), EXPECT_THAT(r.Calls("f"), testing::Le(3)).
struct Count {
  std::string what;  // "calls of db::Lookup", "allocations".
  uint64_t count = 0;
  std::vector<PathCount> paths;  // By count, largest first.
  // Why the count cannot be trusted (a name that is no function of the program, a program
  // without hooks, a build whose sanitizer owns malloc); empty when it can.
  std::string problem;

  operator uint64_t() const { return count; }
  // "5 calls of db::Lookup: 3 x via Handler::Get <- main, 2 x via ..." (at most `max_paths`).
  std::string Describe(size_t max_paths = 5) const;
};

// Called with Count::problem whenever a recorder hands out a count that has one (testing.h
// makes it a GoogleTest failure; the default prints it to stderr).
using ProblemHandler = void (*)(const std::string& problem);
void SetProblemHandler(ProblemHandler handler);

class Recorder {
 public:
  explicit Recorder(Threads threads = kThisThread);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Ends the recording early: the counts are from then on those up to here (so the work of
  // the assertions that read them is not counted), and what the recorder raised is put back.
  void Stop();

  // Calls since construction of the functions named `name`: the qualified name as written in
  // code, without parameters ("acme::Mid" counts acme::Mid(int) and acme::Mid(double)); a name
  // with a parameter list must match the whole demangled name. Template arguments may be left
  // out ("acme::Max" counts acme::Max<int>(int, int)).
  Count Calls(const std::string& name) const;
  // Calls of functions whose demangled name (with parameters) partially matches an RE2 pattern.
  Count CallsMatching(const std::string& pattern) const;
  // Calls of the function at `address`.
  Count CallsAt(const void* function) const;
  template <typename R, typename... A>
  Count Calls(R (*function)(A...)) const {
    return CallsAt(reinterpret_cast<const void*>(function));
  }

  // Allocations (malloc, new, ...) since construction and their bytes, exact.
  Count Allocations() const;
  Count AllocatedBytes() const;
  // Contended mutex acquisitions since construction (every one: the mutex fraction is 1).
  Count Contentions() const;

  // The CPU profile (pprof, gzipped) of what the recorder counted: calls, CPU samples and
  // wall time per call path since construction.
  std::string Profile() const;
  // Profile() written to `name` in $TEST_UNDECLARED_OUTPUTS_DIR (bazel test keeps the file
  // in the test's outputs.zip), else in the current directory (an absolute `name` as it is).
  // Returns the path written, or an empty string (and a problem) if it could not be written.
  std::string WriteProfile(const std::string& name) const;
  // Whether allocations are counted in this build (not when a sanitizer owns malloc).
  static bool CountsAllocations();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace testing
}  // namespace hookprof

#endif  // HOOKPROF_TESTING_RECORDER_H_
