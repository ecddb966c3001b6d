// Sanitizer-coverage counters: per-edge hits from clang's trace-pc-guard callbacks and per-PC
// hits from GCC's trace-pc callback (the callbacks themselves are in sancov_callbacks.cc).
//
// Each thread counts into its own shard (a page directory of 64-bit counters indexed by edge
// id, and an open-addressing PC table for trace-pc), so the hot path has no atomic
// read-modify-write and no shared cache line. Shards outlive their threads and are handed to
// new threads, so counts are never folded or lost; readers sum every shard.
//
// Thread-safety: CollectCoverage may be called from any thread, concurrently with the callbacks.
#ifndef HOOKPROF_INSTRUMENT_COVERAGE_COVERAGE_H_
#define HOOKPROF_INSTRUMENT_COVERAGE_COVERAGE_H_

#include <stdint.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace hookprof {
namespace instrument {

// pc-table flag of a function's entry block (clang's PCTableEntryFlags).
inline constexpr uint8_t kEdgeFunctionEntry = 1;

struct CoverageModule {
  uint32_t first_edge = 0;  // Edge ids [first_edge, first_edge + edges).
  uint32_t edges = 0;
  bool has_pc_table = false;
};

struct CoverageCounts {
  // Indexed by edge id; id 0 is never used. Sizes are the number of registered edges + 1.
  std::vector<uint64_t> edge_hits;
  // The PC of each edge: from the compiler's pc-table (the block's first instruction) when
  // there is one, else the callback's return address minus one at the edge's first hit
  // (0 while an edge without a pc-table never ran).
  std::vector<uintptr_t> edge_pcs;
  std::vector<uint8_t> edge_flags;  // kEdgeFunctionEntry, from the pc-table.
  std::vector<CoverageModule> modules;
  // trace-pc (GCC): call-site PC (return address minus one) -> hits. No totals: GCC does not
  // tell the runtime which PCs exist.
  std::unordered_map<uintptr_t, uint64_t> pc_hits;
  // Hits not counted: edges past the id capacity, PC tables full, or a callback re-entered
  // from the runtime's own slow path (a signal handler, or hookprof built with coverage).
  uint64_t dropped = 0;
  // Registered edges that got no id (past kMaxCoverageEdges).
  uint64_t unregistered_edges = 0;
};

inline constexpr uint32_t kMaxCoverageEdges = (1u << 24) - 1;

// Sums every shard. Cheap enough for a page request: proportional to the edges and PCs hit.
void CollectCoverage(CoverageCounts* out);

// True once a module registered guards or a trace-pc callback ran.
bool CoverageActive();

}  // namespace instrument
}  // namespace hookprof

#endif  // HOOKPROF_INSTRUMENT_COVERAGE_COVERAGE_H_
