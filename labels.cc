// The public label API (hookprof.h) over instrument/labels.h.
#include "instrument/labels.h"

#include <vector>

#include "hookprof.h"
#include "instrument/attributes.h"

namespace hookprof {
namespace {

namespace hi = instrument;

// A scope's pseudo-frame sits at its caller's stack pointer at the call (this function's
// canonical frame address): every call the caller makes while the scope is open is deeper, and
// the caller's own hooks (and those of functions inlined into it) are not.
#define HOOKPROF_CALLER_SP() \
  static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__builtin_dwarf_cfa()))

}  // namespace

HOOKPROF_NO_INSTRUMENT Labels::Labels(
    std::initializer_list<std::pair<std::string_view, std::string_view>> pairs)
    : id_(hi::MergeLabels(0, pairs.begin(), pairs.size())) {}

HOOKPROF_NO_INSTRUMENT std::vector<std::pair<std::string, std::string>> Labels::Get() const {
  const hi::LabelPairs* pairs = hi::LabelSetById(id_);
  return pairs != nullptr ? *pairs : hi::LabelPairs();
}

HOOKPROF_NO_INSTRUMENT Labels CurrentLabels() {
  Labels labels;
  labels.id_ = hi::CurrentLabelSet();
  return labels;
}

HOOKPROF_NO_INSTRUMENT HOOKPROF_NOINLINE
LabelScope::LabelScope(std::initializer_list<std::pair<std::string_view, std::string_view>> pairs)
    : token_(hi::PushLabels(hi::MergeLabels(hi::CurrentLabelSet(), pairs.begin(), pairs.size()),
                            HOOKPROF_CALLER_SP())) {}

HOOKPROF_NO_INSTRUMENT HOOKPROF_NOINLINE LabelScope::LabelScope(const Labels& labels)
    : token_(hi::PushLabels(labels.id_, HOOKPROF_CALLER_SP())) {}

HOOKPROF_NO_INSTRUMENT LabelScope::~LabelScope() { hi::PopLabels(token_); }

}  // namespace hookprof

extern "C" HOOKPROF_NO_INSTRUMENT HOOKPROF_NOINLINE int hookprof_labels_push(
    const char* const* keys_and_values, size_t pairs) {
  namespace hi = hookprof::instrument;
  std::vector<hi::LabelView> views;
  for (size_t i = 0; keys_and_values != nullptr && i < pairs; ++i) {
    const char* key = keys_and_values[2 * i];
    const char* value = keys_and_values[2 * i + 1];
    views.emplace_back(key != nullptr ? key : "", value != nullptr ? value : "");
  }
  return static_cast<int>(hi::PushLabels(
      hi::MergeLabels(hi::CurrentLabelSet(), views.data(), views.size()), HOOKPROF_CALLER_SP()));
}

extern "C" HOOKPROF_NO_INSTRUMENT void hookprof_labels_pop(int token) {
  if (token > 0) hookprof::instrument::PopLabels(static_cast<uint32_t>(token));
}
