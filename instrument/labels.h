// Labels: which request, tenant or span a thread works for, as Go's pprof.Do sets them.
//
// A label set is a sorted list of (key, value) strings, interned once per process into a small
// id (1..kMaxLabelSets; 0 is "no labels"). A thread keeps a stack of the sets its scopes
// entered (ThreadState::label_scopes). Each scope also pushes a pseudo-frame on the shadow
// stack, function word LabelFn(set), so every call path recorded inside the scope runs through a
// node of that set: calls, samples, wall time and heap events are exact per set, and the hooks
// do no more work than before (none at all when no scope is open). Readers find a node's set
// by walking up to its nearest label node (runtime/core/snapshot.h).
//
//   root -> main -> Serve -> [label 7: endpoint=/search] -> Search -> Score
//                        \-> [label 8: endpoint=/put]    -> Put
//
// Memory is bounded: past kMaxLabelSets distinct sets, new ones are merged into one overflow set
// (counted). Keys that are empty, start with "pprof::" (pprof reserves them) or name hookprof's
// own sample labels ("thread", "tid") are dropped (counted); values and keys are cut at
// kMaxLabelBytes and invalid UTF-8 is replaced by U+FFFD.
//
// Thread-safety: interning and LabelSetById run on any thread (interning takes a spin lock; a
// published set never changes or moves). PushLabels/PopLabels change the calling thread's state
// only; they are not async-signal-safe against hookprof's own hooks (a handler that interrupts
// a hook gets its scope counted as lost, not applied).
#ifndef HOOKPROF_INSTRUMENT_LABELS_H_
#define HOOKPROF_INSTRUMENT_LABELS_H_

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "instrument/state/label_sets.h"
#include "instrument/state/thread_state.h"

namespace hookprof {
namespace instrument {

inline constexpr uint32_t kMaxLabelSets = 10000;
inline constexpr uint32_t kOverflowLabelSet = kMaxLabelSets + 1;
inline constexpr size_t kMaxLabelBytes = 256;
// The overflow set's one label.
inline constexpr char kOverflowLabelKey[] = "hookprof_labels";
inline constexpr char kOverflowLabelValue[] = "overflow: more distinct label sets than 10000";

using LabelPairs = std::vector<std::pair<std::string, std::string>>;
using LabelView = std::pair<std::string_view, std::string_view>;

// The id of `base`'s pairs with `pairs` put over them (a key in both takes the value from
// `pairs`; an empty value removes the key). 0 when the result is empty.
uint32_t MergeLabels(uint32_t base, const LabelView* pairs, size_t n);
// The pairs of set `id`, sorted by key; nullptr for 0 and for ids never handed out.
const LabelPairs* LabelSetById(uint32_t id);

struct LabelStats {
  uint64_t sets = 0;           // Distinct sets interned (the overflow set included once used).
  uint64_t overflowed = 0;     // Merges that went to the overflow set.
  uint64_t rejected_keys = 0;  // Pairs dropped for their key.
  uint64_t sanitized = 0;      // Keys or values cut or with invalid UTF-8 replaced.
};
LabelStats GetLabelStats();
// Profile comments for what LabelStats counted, "" when nothing was lost or changed.
std::string LabelStatsComment();

// The calling thread enters a scope of set `set` (0 too: a scope that clears the labels). The
// result is the token PopLabels takes: 0 when nothing was entered (hookprof's own threads, a
// handler inside a hook), counted in lost_label_scopes.
uint32_t PushLabels(uint32_t set, uint32_t sp);
// Leaves the scope `token` and every scope entered after it and not left.
void PopLabels(uint32_t token);
// The calling thread's current set (0: none).
uint32_t CurrentLabelSet();

// The owner's side, for the hooks and the thread trampoline (under the state's busy guard):
// a thread whose shadow stack was emptied (a new epoch) gets its scopes' pseudo-frames back.
void RepushLabelFrames(ThreadState* s, uint64_t control);
// A new thread starts with its creator's set, its pseudo-frame at `sp` in the start routine.
void StartThreadLabels(ThreadState* s, uint32_t set, uint32_t sp);
// Where a walked stack without a hooked frame is grafted: the root, or under the thread's
// current set's pseudo-node when it has one (the label root node).
uint32_t LabelRootNode(ThreadState* s);

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_LABELS_H_
