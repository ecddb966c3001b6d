#include "runtime/switching/switching.h"

#include <time.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "instrument/patching/call_sites.h"
#include "instrument/xray/xray.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {
namespace {

// Who switched each unhooked function off and when, and which functions users pinned.
struct Switches {
  std::mutex mu;
  struct Off {
    SwitchedBy by;
    time_t at;
  };
  std::unordered_map<uintptr_t, Off> off;
  std::unordered_set<uintptr_t> pinned;
};

Switches& GetSwitches() {
  static auto* s = new Switches;  // Never destroyed: threads may switch during exit.
  return *s;
}

std::string IsoTime(time_t t) {
  tm utc;
  gmtime_r(&t, &utc);
  char out[32];
  strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return out;
}

// Notes a switch: `changed` are the functions it changed, `asked` those it was asked to switch
// (a user's pins hold for those that were already as asked too).
void NoteSwitch(const std::vector<uintptr_t>& changed, const std::vector<uintptr_t>& asked,
                bool hooked, SwitchedBy by) {
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  const time_t now = time(nullptr);
  for (uintptr_t fn : changed) {
    if (hooked) {
      sw.off.erase(fn);
    } else {
      sw.off[fn] = {by, now};
    }
  }
  if (by == SwitchedBy::kBudget) return;
  for (uintptr_t fn : asked) {
    if (hooked) {
      sw.pinned.insert(fn);
    } else {
      sw.pinned.erase(fn);
    }
  }
}

// Switches each of `fns` with the program's backend; `done` gets those that changed. The budget
// passes pinned functions over.
bool SwitchEach(const std::vector<uintptr_t>& fns, bool hooked, SwitchedBy by,
                std::vector<uintptr_t>* done, std::string* error) {
  std::unordered_set<uintptr_t> pinned;
  if (by == SwitchedBy::kBudget) {
    Switches& sw = GetSwitches();
    std::lock_guard<std::mutex> lock(sw.mu);
    pinned = sw.pinned;
  }
  const size_t xray = instrument::XRayFunctions();
  if (xray == 0) {
    if (const char* why = CompilerHooksNotSwitchable()) {
      *error = why;
      return false;
    }
    for (uintptr_t fn : fns) {
      if (instrument::FunctionUnhooked(fn) == !hooked || pinned.count(fn) != 0) continue;
      if (!instrument::SetFunctionUnhooked(fn, !hooked)) {
        *error = "too many functions switched off (65536 at most)";
        return false;
      }
      done->push_back(fn);
    }
    return true;
  }
  if (!instrument::XRayCanSwitchFunctions()) {
    *error = "this XRay runtime cannot patch one function";
    return false;
  }
  std::unordered_map<uintptr_t, size_t> ids;
  for (size_t id = 1; id <= xray; ++id) ids.emplace(instrument::XRayFunctionAddress(id), id);
  for (uintptr_t fn : fns) {
    const auto it = ids.find(fn);
    if (it == ids.end() || instrument::XRayFunctionHooked(it->second) == hooked ||
        pinned.count(fn) != 0) {
      continue;
    }
    if (!instrument::SetXRayFunctionHooked(it->second, hooked)) {
      *error = "XRay refused to patch " + Symbolizer::Current()->NameOf(fn);
      return false;
    }
    done->push_back(fn);
  }
  return true;
}

}  // namespace

const char* SwitchedByName(SwitchedBy by) {
  switch (by) {
    case SwitchedBy::kUser:
      return "user";
    case SwitchedBy::kStartOption:
      return "HOOKPROF_UNHOOK";
    case SwitchedBy::kExclusions:
      return "exclusions";
    case SwitchedBy::kBudget:
      return "budget";
  }
  return "";
}

// The functions switched off now, with either backend.
std::vector<uintptr_t> UnhookedNow() {
  std::vector<uintptr_t> fns;
  if (const size_t xray = instrument::XRayFunctions(); xray != 0) {
    for (size_t id = 1; id <= xray; ++id) {
      if (!instrument::XRayFunctionHooked(id)) fns.push_back(instrument::XRayFunctionAddress(id));
    }
    return fns;
  }
  fns.resize(instrument::UnhookedFunctions(nullptr, 0) + 64);
  fns.resize(std::min(fns.size(), instrument::UnhookedFunctions(fns.data(), fns.size())));
  return fns;
}

// Why the compiler's hooks cannot be switched here, or nullptr if they can.
const char* CompilerHooksNotSwitchable() {
  const char* why = nullptr;
  return instrument::CanRemoveSites(&why) ? nullptr : why;
}

bool SwitchFunctionsAt(const std::vector<uintptr_t>& fns, bool hooked, size_t* changed,
                       std::string* error, SwitchedBy by) {
  std::vector<uintptr_t> done;
  const bool ok = SwitchEach(fns, hooked, by, &done, error);
  *changed = done.size();
  NoteSwitch(done, fns, hooked, by);
  return ok;
}

bool FunctionPinned(uintptr_t fn) {
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  return sw.pinned.count(fn) != 0;
}

std::vector<uintptr_t> FunctionsOffBy(SwitchedBy by) {
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  std::vector<uintptr_t> fns;
  for (const auto& [fn, off] : sw.off) {
    if (off.by == by) fns.push_back(fn);
  }
  return fns;
}

std::string UnhookedComment() {
  const std::vector<uintptr_t> fns = UnhookedNow();
  if (fns.empty()) return "";
  const auto symbols = Symbolizer::Current();
  constexpr size_t kNamed = 20;
  std::string names;
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  for (size_t i = 0; i < fns.size() && i < kNamed; ++i) {
    names += (i == 0 ? "" : ", ") + symbols->NameOf(fns[i]);
    const auto off = sw.off.find(fns[i]);
    if (off != sw.off.end()) {
      names +=
          std::string(" (") + SwitchedByName(off->second.by) + ", " + IsoTime(off->second.at) + ")";
    }
  }
  if (fns.size() > kNamed) {
    names += " and " + std::to_string(fns.size() - kNamed) + " more (debug/hookprof/functions)";
  }
  return std::to_string(fns.size()) +
         " functions unhooked (their calls are not counted; their CPU samples stay at their "
         "PCs): " +
         names;
}

bool HookAllFunctions(size_t* changed, std::string* error) {
  bool ok = true;
  if (instrument::XRayFunctions() == 0) {
    *changed = instrument::HookAllFunctionsAgain();
  } else {
    std::vector<uintptr_t> done;
    ok = SwitchEach(UnhookedNow(), true, SwitchedBy::kUser, &done, error);
    *changed = done.size();
  }
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  sw.off.clear();
  return ok;
}

SwitchRecord SwitchRecordOf(uintptr_t fn) {
  Switches& sw = GetSwitches();
  std::lock_guard<std::mutex> lock(sw.mu);
  SwitchRecord r;
  r.pinned = sw.pinned.count(fn) != 0;
  const auto off = sw.off.find(fn);
  if (off != sw.off.end()) {
    r.off_by = SwitchedByName(off->second.by);
    r.off_at = IsoTime(off->second.at);
  }
  return r;
}

std::string HookCallsState() {
  if (instrument::XRayFunctions() != 0) return "";
  if (const char* why = CompilerHooksNotSwitchable()) return std::string("kept in place: ") + why;
  const instrument::SiteCounts sites = instrument::CountSites();
  if (sites.removed == 0) return "";
  return std::to_string(sites.removed) + " of " + std::to_string(sites.sites) +
         " met are out of the code now";
}

}  // namespace runtime
}  // namespace hookprof
