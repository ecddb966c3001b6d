#include "instrument/state/tsc.h"

#include <cpuid.h>
#include <time.h>

#include "instrument/state/clock.h"

namespace hookprof {
namespace instrument {
namespace {

constexpr int64_t kMinLineNanos = 1000000;  // Closer readings give no usable rate.

}  // namespace

bool TscInvariant() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_max(0x80000000, nullptr) < 0x80000007) return false;
  __cpuid(0x80000007, eax, ebx, ecx, edx);
  return (edx & (1u << 8)) != 0;
}

// The clock read between two TSC reads, the narrowest bracket of four: a thread preempted
// between the reads (a busy machine) would otherwise pair a TSC with a clock read milliseconds
// away, and every rate derived from the pair would be off by as much (2.5 % over 20 ms, seen).
TscPair TscPair::Now() {
  TscPair p;
  uint64_t narrowest = ~uint64_t{0};
  for (int i = 0; i < 4; ++i) {
    const uint64_t before = ReadTsc();
    const int64_t mono = MonotonicNanos();
    const uint64_t after = ReadTsc();
    if (after >= before && after - before < narrowest) {
      narrowest = after - before;
      p.mono_ns = mono;
      p.tsc = before + (after - before) / 2;
    }
  }
  if (narrowest == ~uint64_t{0}) {  // The TSC went back every time: one plain pair.
    p.mono_ns = MonotonicNanos();
    p.tsc = ReadTsc();
  }
  return p;
}

// Once, not at load time: the server may ask before this file's initialisers have run.
double NanosPerTick() {
  static const double rate = [] {
    const TscPair a = TscPair::Now();
    const struct timespec wait = {0, 20000000};
    nanosleep(&wait, nullptr);
    const TscPair b = TscPair::Now();
    // A TSC that does not advance is no clock: 1 ns a tick keeps every conversion finite.
    return b.tsc > a.tsc ? double(b.mono_ns - a.mono_ns) / double(b.tsc - a.tsc) : 1.0;
  }();
  return rate;
}

TscLine::TscLine(TscPair a, TscPair b) : anchor_(b) {
  ns_per_tick_ = b.tsc > a.tsc && b.mono_ns - a.mono_ns >= kMinLineNanos
                     ? double(b.mono_ns - a.mono_ns) / double(b.tsc - a.tsc)
                     : NanosPerTick();
}

TscLine::TscLine(TscPair anchor) : anchor_(anchor), ns_per_tick_(NanosPerTick()) {}

uint64_t TscLine::Ticks(int64_t nanos) const {
  return nanos <= 0 ? 0 : static_cast<uint64_t>(double(nanos) / ns_per_tick_);
}

int64_t TscLine::ToMono(uint64_t tsc) const {
  return tsc >= anchor_.tsc ? anchor_.mono_ns + Nanos(tsc - anchor_.tsc)
                            : anchor_.mono_ns - Nanos(anchor_.tsc - tsc);
}

uint64_t TscLine::ToTsc(int64_t mono_ns) const {
  return mono_ns >= anchor_.mono_ns ? anchor_.tsc + Ticks(mono_ns - anchor_.mono_ns)
                                    : anchor_.tsc - Ticks(anchor_.mono_ns - mono_ns);
}

}  // namespace instrument
}  // namespace hookprof
