#include "instrument/labels.h"

#include <algorithm>
#include <unordered_map>

#include "instrument/records/timed_record.h"
#include "instrument/stack_table.h"
#include "instrument/state/tsc.h"

namespace hookprof {
namespace instrument {
namespace {

// The interned sets, by id; an entry is published with release order once complete.
const LabelPairs* g_sets[kOverflowLabelSet + 1];
SpinLock g_lock;
// Encoded set -> id, under g_lock. Never freed: ids stay valid for the process.
std::unordered_map<std::string, uint32_t>* g_ids;
uint32_t g_next_id = 1;                               // Under g_lock.
uint64_t g_overflowed, g_rejected_keys, g_sanitized;  // Relaxed.

HOOKPROF_NO_INSTRUMENT void Count(uint64_t* counter) {
  __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

// Length of the valid UTF-8 sequence at s[i], or 0.
HOOKPROF_NO_INSTRUMENT size_t Utf8Length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t min;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    n = 2, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  uint32_t cp = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// `s` as valid UTF-8 of at most kMaxLabelBytes (whole characters), counted when changed.
HOOKPROF_NO_INSTRUMENT std::string Sanitize(std::string_view s) {
  std::string out;
  bool changed = false;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Length(s, i);
    std::string_view piece = n != 0 ? s.substr(i, n) : std::string_view("\xef\xbf\xbd");
    changed = changed || n == 0;
    if (out.size() + piece.size() > kMaxLabelBytes) {
      changed = true;
      break;
    }
    out.append(piece);
    i += n != 0 ? n : 1;
  }
  if (changed) Count(&g_sanitized);
  return out;
}

HOOKPROF_NO_INSTRUMENT bool ReservedKey(std::string_view key) {
  return key.empty() || key.substr(0, 7) == "pprof::" || key == "thread" || key == "tid";
}

HOOKPROF_NO_INSTRUMENT uint32_t Intern(LabelPairs pairs) {
  if (pairs.empty()) return 0;
  std::string key;
  for (const auto& [k, v] : pairs) {
    key.append(k).push_back('\0');
    key.append(v).push_back('\0');
  }
  g_lock.Lock();
  if (g_ids == nullptr) g_ids = new std::unordered_map<std::string, uint32_t>();
  auto it = g_ids->find(key);
  uint32_t id;
  if (it != g_ids->end()) {
    id = it->second;
  } else if (g_next_id <= kMaxLabelSets) {
    id = g_next_id++;
    __atomic_store_n(&g_sets[id], new LabelPairs(std::move(pairs)), __ATOMIC_RELEASE);
    g_ids->emplace(std::move(key), id);
  } else {
    id = kOverflowLabelSet;
    Count(&g_overflowed);
    if (g_sets[id] == nullptr) {
      __atomic_store_n(&g_sets[id], new LabelPairs{{kOverflowLabelKey, kOverflowLabelValue}},
                       __ATOMIC_RELEASE);
    }
  }
  g_lock.Unlock();
  return id;
}

// Pushes a pseudo-frame of `set` on the shadow stack if it is current and has room; returns
// 1 + its index, or 0.
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t PushFrame(ThreadState* s, uint32_t set,
                                                                uint32_t sp, uint64_t control) {
  const uint32_t d = s->depth;
  if (ModeOf(control) == kModeOff || s->epoch != EpochOf(control) || d >= kMaxDepth ||
      s->nodes == nullptr) {
    return 0;
  }
  const uint32_t parent = d != 0 ? s->stack[d - 1].node : kRootNode;
  const uint32_t node = FindOrInsertChild(s, parent, LabelFn(set), 0);
  Frame& f = s->stack[d];
  f.fn = LabelFn(set);
  f.call_site = 0;
  f.node = node;
  f.sp = sp;
  f.tsc = IsTimed(control) ? ReadTsc() : 0;
  __atomic_signal_fence(__ATOMIC_RELEASE);  // The SIGPROF handler reads the frame, then depth.
  s->depth = d + 1;
  ++s->label_frames;
  return d + 1;
}

// Pops the pseudo-frame of scope `e` with whatever is above it (frames that an exception or a
// longjmp skipped), its wall time to its node (not to a latency row: it is no function).
HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void PopFrame(ThreadState* s, const LabelScopeEntry& e,
                                                           uint64_t control) {
  const uint32_t d = s->depth < kMaxDepth ? s->depth : kMaxDepth;
  if (e.frame == 0 || ModeOf(control) == kModeOff || s->epoch != EpochOf(control) || e.frame > d) {
    return;
  }
  const Frame& f = s->stack[e.frame - 1];
  if (f.fn != LabelFn(e.set) || f.sp != e.sp) return;
  if (IsTimed(control)) {
    const uint64_t now = ReadTsc();
    if (f.tsc >= __atomic_load_n(&g_timed_since, __ATOMIC_RELAXED) && now > f.tsc) {
      Node& n = s->nodes[f.node];
      __atomic_store_n(&n.wall_ticks, n.wall_ticks + (now - f.tsc), __ATOMIC_RELAXED);
    }
  }
  const uint32_t top = s->depth < kMaxDepth ? s->depth : kMaxDepth;
  for (uint32_t k = e.frame; k <= top; ++k)
    s->label_frames -= IsLabelFn(s->stack[k - 1].fn) ? 1 : 0;
  if (s->depth > e.frame) {
    __atomic_store_n(&s->resyncs, s->resyncs + (s->depth - e.frame), __ATOMIC_RELAXED);
  }
  __atomic_signal_fence(__ATOMIC_RELEASE);
  s->depth = e.frame - 1;
}

HOOKPROF_NO_INSTRUMENT uint32_t CurrentOf(const ThreadState* s) {
  const uint32_t kept = s->label_depth < kMaxLabelScopes ? s->label_depth : kMaxLabelScopes;
  return kept != 0 ? s->label_scopes[kept - 1].set : s->label_base;
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void SetBusy(ThreadState* s, bool busy) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  s->guard = busy ? kHookBusy : 0;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

// The last merges of each thread, direct-mapped: a request handler opens the same few scopes
// over and over, and a hit costs a hash and a compare of the pairs, no allocation or lock.
struct MergeCacheEntry {
  uint64_t hash = 0;
  uint32_t base = 0;
  uint32_t id = 0;
  LabelPairs pairs;  // As given (before sanitising): what a hit compares with.
};
constexpr size_t kMergeCacheEntries = 64;
constexpr size_t kMergeCacheMaxPairs = 8;
thread_local MergeCacheEntry t_merge_cache[kMergeCacheEntries];

HOOKPROF_NO_INSTRUMENT uint64_t MergeHash(uint32_t base, const LabelView* pairs, size_t n) {
  uint64_t h = 14695981039346656037ull ^ base;  // FNV-1a, with a separator after each string.
  const auto add = [&h](std::string_view s) {
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    h = (h ^ 0x100) * 1099511628211ull;
  };
  for (size_t i = 0; i < n; ++i) {
    add(pairs[i].first);
    add(pairs[i].second);
  }
  return h;
}

HOOKPROF_NO_INSTRUMENT bool SamePairs(const LabelPairs& a, const LabelView* b, size_t n) {
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (a[i].first != b[i].first || a[i].second != b[i].second) return false;
  }
  return true;
}

HOOKPROF_NO_INSTRUMENT uint32_t MergeUncached(uint32_t base, const LabelView* pairs, size_t n);

}  // namespace

HOOKPROF_NO_INSTRUMENT uint32_t MergeLabels(uint32_t base, const LabelView* pairs, size_t n) {
  if (n > kMergeCacheMaxPairs) return MergeUncached(base, pairs, n);
  const uint64_t hash = MergeHash(base, pairs, n);
  MergeCacheEntry& e = t_merge_cache[hash % kMergeCacheEntries];
  if (e.id != 0 && e.hash == hash && e.base == base && SamePairs(e.pairs, pairs, n)) return e.id;
  const uint32_t id = MergeUncached(base, pairs, n);
  // Overflowed merges are not kept: each is counted.
  if (id != 0 && id != kOverflowLabelSet) {
    e.hash = hash;
    e.base = base;
    e.id = id;
    e.pairs.assign(pairs, pairs + n);
  }
  return id;
}

namespace {

HOOKPROF_NO_INSTRUMENT uint32_t MergeUncached(uint32_t base, const LabelView* pairs, size_t n) {
  LabelPairs merged;
  if (const LabelPairs* b = LabelSetById(base); b != nullptr && base != kOverflowLabelSet) {
    merged = *b;
  }
  for (size_t i = 0; i < n; ++i) {
    if (ReservedKey(pairs[i].first)) {
      Count(&g_rejected_keys);
      continue;
    }
    std::string key = Sanitize(pairs[i].first);
    std::string value = Sanitize(pairs[i].second);
    auto it = std::lower_bound(merged.begin(), merged.end(), key,
                               [](const auto& p, const std::string& k) { return p.first < k; });
    if (it != merged.end() && it->first == key) {
      if (value.empty()) {
        merged.erase(it);
      } else {
        it->second = std::move(value);
      }
    } else if (!value.empty()) {
      merged.emplace(it, std::move(key), std::move(value));
    }
  }
  return Intern(std::move(merged));
}

}  // namespace

HOOKPROF_NO_INSTRUMENT const LabelPairs* LabelSetById(uint32_t id) {
  if (id == 0 || id > kOverflowLabelSet) return nullptr;
  return __atomic_load_n(&g_sets[id], __ATOMIC_ACQUIRE);
}

HOOKPROF_NO_INSTRUMENT LabelStats GetLabelStats() {
  LabelStats st;
  g_lock.Lock();
  st.sets = g_next_id - 1 + (g_sets[kOverflowLabelSet] != nullptr ? 1 : 0);
  g_lock.Unlock();
  st.overflowed = __atomic_load_n(&g_overflowed, __ATOMIC_RELAXED);
  st.rejected_keys = __atomic_load_n(&g_rejected_keys, __ATOMIC_RELAXED);
  st.sanitized = __atomic_load_n(&g_sanitized, __ATOMIC_RELAXED);
  return st;
}

HOOKPROF_NO_INSTRUMENT std::string LabelStatsComment() {
  const LabelStats st = GetLabelStats();
  std::string out;
  if (st.overflowed != 0) {
    out += "hookprof: " + std::to_string(st.overflowed) + " label sets past the limit of " +
           std::to_string(kMaxLabelSets) + " distinct sets went to the set " + kOverflowLabelKey +
           "=" + kOverflowLabelValue + "\n";
  }
  if (st.rejected_keys != 0) {
    out += "hookprof: " + std::to_string(st.rejected_keys) +
           " labels dropped for their key (empty, pprof::..., thread or tid)\n";
  }
  if (st.sanitized != 0) {
    out += "hookprof: " + std::to_string(st.sanitized) + " label keys or values were cut at " +
           std::to_string(kMaxLabelBytes) + " bytes or had invalid UTF-8 replaced\n";
  }
  if (!out.empty()) out.pop_back();
  return out;
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t PushLabels(uint32_t set, uint32_t sp) {
  ThreadState* s = t_state != nullptr ? t_state : CurrentThreadState();
  if (s == nullptr || s->internal) return 0;
  if (s->guard != 0) {
    __atomic_store_n(&s->lost_label_scopes, s->lost_label_scopes + 1, __ATOMIC_RELAXED);
    return 0;
  }
  SetBusy(s, true);
  const uint32_t depth = s->label_depth;
  if (depth < kMaxLabelScopes) {
    LabelScopeEntry& e = s->label_scopes[depth];
    e.set = set;
    e.sp = sp;
    e.frame = PushFrame(s, set, sp, LoadControl());
    __atomic_store_n(&s->label_current, set, __ATOMIC_RELAXED);
  } else {
    __atomic_store_n(&s->lost_label_scopes, s->lost_label_scopes + 1, __ATOMIC_RELAXED);
  }
  s->label_depth = depth + 1;
  SetBusy(s, false);
  return depth + 1;
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void PopLabels(uint32_t token) {
  ThreadState* s = t_state;
  if (token == 0 || s == nullptr || s->guard != 0 || token > s->label_depth) return;
  SetBusy(s, true);
  const uint64_t control = LoadControl();
  for (uint32_t k = s->label_depth; k >= token; --k) {
    if (k <= kMaxLabelScopes) PopFrame(s, s->label_scopes[k - 1], control);
  }
  s->label_depth = token - 1;
  __atomic_store_n(&s->label_current, CurrentOf(s), __ATOMIC_RELAXED);
  SetBusy(s, false);
}

HOOKPROF_NO_INSTRUMENT uint32_t CurrentLabelSet() {
  const ThreadState* s = t_state;
  return s != nullptr ? CurrentOf(s) : 0;
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void RepushLabelFrames(ThreadState* s,
                                                                    uint64_t control) {
  s->label_frames = 0;  // The stack was emptied.
  if (s->label_base != 0) PushFrame(s, s->label_base, s->label_base_sp, control);
  const uint32_t kept = s->label_depth < kMaxLabelScopes ? s->label_depth : kMaxLabelScopes;
  for (uint32_t k = 0; k < kept; ++k) {
    LabelScopeEntry& e = s->label_scopes[k];
    e.frame = PushFrame(s, e.set, e.sp, control);
  }
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES void StartThreadLabels(ThreadState* s, uint32_t set,
                                                                    uint32_t sp) {
  if (s->guard != 0) return;
  SetBusy(s, true);
  s->label_depth = 0;
  s->label_base = set;
  s->label_base_sp = sp;
  __atomic_store_n(&s->label_current, set, __ATOMIC_RELAXED);
  if (set != 0) PushFrame(s, set, sp, LoadControl());
  SetBusy(s, false);
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_OWNER_WRITES uint32_t LabelRootNode(ThreadState* s) {
  const uint32_t set = CurrentOf(s);
  return set != 0 ? FindOrInsertChild(s, kRootNode, LabelFn(set), 0) : kRootNode;
}

}  // namespace instrument
}  // namespace hookprof
