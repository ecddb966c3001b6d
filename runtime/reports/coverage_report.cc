#include "runtime/reports/coverage_report.h"

#include <stdio.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace hookprof {
namespace runtime {

instrument::CoverageCounts CoverageDelta(const instrument::CoverageCounts& base,
                                         const instrument::CoverageCounts& now) {
  instrument::CoverageCounts out = now;
  for (size_t i = 0; i < out.edge_hits.size() && i < base.edge_hits.size(); ++i) {
    out.edge_hits[i] -= std::min(out.edge_hits[i], base.edge_hits[i]);
  }
  for (auto it = out.pc_hits.begin(); it != out.pc_hits.end();) {
    auto b = base.pc_hits.find(it->first);
    if (b != base.pc_hits.end()) it->second -= std::min(it->second, b->second);
    it = it->second == 0 ? out.pc_hits.erase(it) : std::next(it);
  }
  out.dropped -= std::min(out.dropped, base.dropped);
  return out;
}

CoverageView::CoverageView(const instrument::CoverageCounts& counts,
                           std::shared_ptr<const Symbolizer> symbolizer)
    : symbolizer_(std::move(symbolizer)), dropped_(counts.dropped) {
  for (const auto& m : counts.modules) totals_known_ &= m.has_pc_table;
  totals_known_ &= counts.pc_hits.empty();
  for (size_t id = 1; id < counts.edge_hits.size(); ++id) {
    if (counts.edge_pcs[id] == 0) {
      ++edges_without_address_;
      continue;
    }
    Point p;
    p.pc = counts.edge_pcs[id];
    p.hits = counts.edge_hits[id];
    p.entry = (counts.edge_flags[id] & instrument::kEdgeFunctionEntry) != 0;
    points_.push_back(p);
  }
  for (const auto& [pc, hits] : counts.pc_hits) {
    Point p;
    p.pc = pc;
    p.hits = hits;
    points_.push_back(p);
  }
  std::sort(points_.begin(), points_.end(),
            [](const Point& a, const Point& b) { return a.pc < b.pc; });
  for (Point& p : points_) p.fn = symbolizer_->FindSymbol(p.pc);
}

bool CoverageView::ResolveLines(std::string* error) {
  std::vector<uint64_t> addresses;
  std::set<uint64_t> functions;
  for (const Point& p : points_) {
    addresses.push_back(p.pc);
    if (p.fn != nullptr && functions.insert(p.fn->address).second) {
      addresses.push_back(p.fn->address);
    }
  }
  std::unordered_map<uint64_t, SourceLine> lines;
  if (!ResolveSourceLines(*symbolizer_, addresses, &lines, error)) return false;
  for (Point& p : points_) {
    auto it = lines.find(p.pc);
    if (it != lines.end()) p.line = it->second;
  }
  for (uint64_t a : functions) {
    auto it = lines.find(a);
    if (it != lines.end()) entry_lines_[a] = it->second;
  }
  return true;
}

const SourceLine* CoverageView::EntryLine(const Symbol* fn) const {
  auto it = entry_lines_.find(fn->address);
  return it == entry_lines_.end() || it->second.line == 0 ? nullptr : &it->second;
}

namespace {

struct FunctionCoverage {
  const Symbol* fn = nullptr;
  uint64_t edges = 0;
  uint64_t covered = 0;
  uint64_t entry_hits = 0;
  bool flagged_entry = false;
  const CoverageView::Point* first = nullptr;  // Lowest address: the entry without a pc-table.
};

// Per function, in address order. Points outside every known function are left out.
std::vector<FunctionCoverage> ByFunction(const CoverageView& view) {
  std::vector<FunctionCoverage> out;
  for (const CoverageView::Point& p : view.points()) {
    if (p.fn == nullptr) continue;
    if (out.empty() || out.back().fn != p.fn) {
      out.emplace_back();
      out.back().fn = p.fn;
      out.back().first = &p;
    }
    FunctionCoverage& f = out.back();
    ++f.edges;
    if (p.hits != 0) ++f.covered;
    if (p.entry) {
      f.flagged_entry = true;
      f.entry_hits = p.hits;
    }
  }
  for (FunctionCoverage& f : out) {
    if (!f.flagged_entry) f.entry_hits = f.first->hits;
  }
  return out;
}

std::string Percent(uint64_t part, uint64_t whole) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f%%", whole == 0 ? 0.0 : 100.0 * part / whole);
  return buf;
}

}  // namespace

std::string CoverageText(const CoverageView& view, const std::string& window) {
  const std::vector<FunctionCoverage> functions = ByFunction(view);
  uint64_t edges = 0, covered = 0, functions_hit = 0;
  for (const CoverageView::Point& p : view.points()) {
    ++edges;
    if (p.hits != 0) ++covered;
  }
  for (const FunctionCoverage& f : functions) functions_hit += f.covered != 0;
  std::string out = "hookprof coverage, " + window + ": ";
  if (view.totals_known()) {
    out += std::to_string(covered) + " of " + std::to_string(edges) + " edges covered (" +
           Percent(covered, edges) + ") in " + std::to_string(functions_hit) + " of " +
           std::to_string(functions.size()) + " functions\n";
  } else {
    out += std::to_string(covered) + " covered PCs in " + std::to_string(functions_hit) +
           " functions (totals unknown: no pc-table for some code, or GCC's trace-pc, which "
           "only reports what ran)\n";
  }
  if (view.edges_without_address() != 0) {
    out += "edges without a known address (no pc-table, never ran): " +
           std::to_string(view.edges_without_address()) + "\n";
  }
  if (view.dropped() != 0) {
    out += "hits not counted (tables full or re-entered callbacks): " +
           std::to_string(view.dropped()) + "\n";
  }
  out += "\n";
  char line[96];
  snprintf(line, sizeof(line), "%15s %12s  %s\n", "covered/total", "entry hits", "function");
  out += line;
  std::vector<const FunctionCoverage*> sorted;
  for (const FunctionCoverage& f : functions) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->fn->name < b->fn->name; });
  for (const FunctionCoverage* f : sorted) {
    const std::string ratio =
        std::to_string(f->covered) + "/" + (view.totals_known() ? std::to_string(f->edges) : "?");
    snprintf(line, sizeof(line), "%15s %12llu  ", ratio.c_str(),
             static_cast<unsigned long long>(f->entry_hits));
    out += line;
    out += f->fn->name;
    out += "\n";
  }
  return out;
}

std::string WhyNoLcov(const CoverageView& view) {
  size_t with_lines = 0;
  for (const CoverageView::Point& p : view.points()) with_lines += p.line.line != 0 ? 1 : 0;
  if (with_lines != 0) return "";
  if (view.points().empty()) return "nothing covered yet: lcov has no record to give";
  return "none of the " + std::to_string(view.points().size()) +
         " covered addresses has a source line (the program has no DWARF line tables: build it "
         "with -g); format=text and the pprof output do without them";
}

std::string CoverageLcov(const CoverageView& view) {
  struct FileData {
    std::map<int64_t, uint64_t> lines;  // line -> hits (largest edge count on the line)
    std::vector<std::pair<const FunctionCoverage*, int64_t>> functions;  // with start line
  };
  const std::vector<FunctionCoverage> functions = ByFunction(view);
  std::map<std::string, FileData> files;
  for (const CoverageView::Point& p : view.points()) {
    if (p.line.line == 0) continue;
    uint64_t& hits = files[p.line.file].lines[p.line.line];
    hits = std::max(hits, p.hits);
  }
  for (const FunctionCoverage& f : functions) {
    const SourceLine* at = view.EntryLine(f.fn);
    if (at == nullptr) at = f.first->line.line != 0 ? &f.first->line : nullptr;
    if (at == nullptr) continue;
    files[at->file].functions.emplace_back(&f, at->line);
  }
  std::string out;
  for (const auto& [file, data] : files) {
    out += "TN:\nSF:" + file + "\n";
    uint64_t hit_functions = 0;
    for (const auto& [f, line] : data.functions) {
      out += "FN:" + std::to_string(line) + "," + f->fn->mangled + "\n";
    }
    for (const auto& [f, line] : data.functions) {
      out += "FNDA:" + std::to_string(f->entry_hits) + "," + f->fn->mangled + "\n";
      hit_functions += f->entry_hits != 0;
    }
    out += "FNF:" + std::to_string(data.functions.size()) + "\n";
    out += "FNH:" + std::to_string(hit_functions) + "\n";
    uint64_t hit_lines = 0;
    for (const auto& [line, hits] : data.lines) {
      out += "DA:" + std::to_string(line) + "," + std::to_string(hits) + "\n";
      hit_lines += hits != 0;
    }
    out += "LF:" + std::to_string(data.lines.size()) + "\n";
    out += "LH:" + std::to_string(hit_lines) + "\n";
    out += "end_of_record\n";
  }
  return out;
}

void BuildCoverageProfile(const CoverageView& view, int64_t duration_nanos,
                          const std::string& window, ProfileBuilder* b) {
  auto& p = b->profile();
  b->AddSampleType("hits", "count");
  p.set_default_sample_type(b->Intern("hits"));
  p.set_duration_nanos(duration_nanos);
  uint64_t edges = 0, covered = 0;
  for (const CoverageView::Point& point : view.points()) {
    ++edges;
    if (point.hits == 0) continue;
    ++covered;
    auto* s = p.add_sample();
    s->add_location_id(b->LocationFor(point.pc));
    s->add_value(static_cast<int64_t>(point.hits));
  }
  b->AddComment("hookprof: sanitizer coverage, " + window + ": " + std::to_string(covered) +
                (view.totals_known() ? " of " + std::to_string(edges) + " edges covered"
                                     : " PCs covered (totals unknown)"));
  if (view.dropped() != 0) {
    b->AddComment("hookprof: " + std::to_string(view.dropped()) +
                  " hits not counted (tables full or re-entered callbacks)");
  }
}

size_t AddCoverageCalls(const instrument::CoverageCounts& delta, ProfileBuilder* b) {
  size_t added = 0;
  for (size_t id = 1; id < delta.edge_hits.size(); ++id) {
    if (delta.edge_hits[id] == 0 || delta.edge_pcs[id] == 0 ||
        (delta.edge_flags[id] & instrument::kEdgeFunctionEntry) == 0) {
      continue;
    }
    auto* s = b->profile().add_sample();
    s->add_location_id(b->LocationFor(delta.edge_pcs[id]));
    s->add_value(0);
    s->add_value(0);
    s->add_value(static_cast<int64_t>(delta.edge_hits[id]));
    ++added;
  }
  return added;
}

}  // namespace runtime
}  // namespace hookprof
