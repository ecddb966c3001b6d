// Coverage counts -> pprof (sample type hits/count), lcov tracefile, and a per-function text;
// and function-entry counts -> the CPU profile's calls/count (the cheap mode).
#ifndef HOOKPROF_RUNTIME_REPORTS_COVERAGE_REPORT_H_
#define HOOKPROF_RUNTIME_REPORTS_COVERAGE_REPORT_H_

#include <stdint.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "instrument/coverage/coverage.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/source_lines.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {

// `now` minus `base`, in the (begin, end) order of every *Delta (counts only grow; edges
// registered after `base` count from zero).
instrument::CoverageCounts CoverageDelta(const instrument::CoverageCounts& base,
                                         const instrument::CoverageCounts& now);

// Every known code address with its hits and function.
class CoverageView {
 public:
  struct Point {
    uint64_t pc = 0;
    uint64_t hits = 0;
    bool entry = false;          // The function's entry block (pc-table flag).
    const Symbol* fn = nullptr;  // Containing function, if the symbol tables know it.
    SourceLine line;             // Filled by ResolveLines.
  };

  CoverageView(const instrument::CoverageCounts& counts,
               std::shared_ptr<const Symbolizer> symbolizer);

  // Source lines for every point and function entry. False (and a reason) if addr2line failed.
  bool ResolveLines(std::string* error);

  const std::vector<Point>& points() const { return points_; }
  const Symbolizer& symbolizer() const { return *symbolizer_; }
  // False when some edges have no known address (a module without a pc-table), or when PCs
  // come from GCC's trace-pc, which never says what did not run.
  bool totals_known() const { return totals_known_; }
  uint64_t edges_without_address() const { return edges_without_address_; }
  uint64_t dropped() const { return dropped_; }
  const SourceLine* EntryLine(const Symbol* fn) const;

 private:
  std::shared_ptr<const Symbolizer> symbolizer_;
  std::vector<Point> points_;                             // Sorted by pc.
  std::unordered_map<uint64_t, SourceLine> entry_lines_;  // Function address -> line.
  bool totals_known_ = true;
  uint64_t edges_without_address_ = 0;
  uint64_t dropped_ = 0;
};

// "covered/total edges" per function, most-covered first, with totals and caveats on top.
std::string CoverageText(const CoverageView& view, const std::string& window);

// Why lcov would have nothing for `view` after ResolveLines: nothing covered, or no covered
// address has a source line (no DWARF line tables: built without -g). "" when it has lines.
std::string WhyNoLcov(const CoverageView& view);

// An lcov tracefile (TN/SF/FN/FNDA/FNF/FNH/DA/LF/LH/end_of_record). A line's DA count is the
// largest count among its edges. Needs ResolveLines.
std::string CoverageLcov(const CoverageView& view);

// pprof profile: one sample per covered address, value hits/count, locations with lines.
// Needs ResolveLines.
void BuildCoverageProfile(const CoverageView& view, int64_t duration_nanos,
                          const std::string& window, ProfileBuilder* builder);

// The cheap mode: function-entry counts of `delta` added to a CPU profile as flat calls/count
// samples (one location each; no call paths, no CPU time). Returns the number of samples.
size_t AddCoverageCalls(const instrument::CoverageCounts& delta, ProfileBuilder* builder);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_REPORTS_COVERAGE_REPORT_H_
