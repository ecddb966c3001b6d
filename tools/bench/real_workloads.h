// Workloads on third-party code, for tools/bench: header-only libraries Debian ships, compiled
// with the hooks (or sleds) of each variant in their own code, as a user who instruments the
// program gets them. RapidJSON (rapidjson-dev) and Boost.Graph (libboost-dev).
#ifndef HOOKPROF_TOOLS_BENCH_REAL_WORKLOADS_H_
#define HOOKPROF_TOOLS_BENCH_REAL_WORKLOADS_H_

#include <stdint.h>

namespace bench {

// Generates a document of `records` records (about 120 bytes each) with RapidJSON's Writer,
// parses it into a Document, walks it, and writes it again, `rounds` times. Returns a checksum.
uint64_t JsonRoundTrip(int records, int rounds);

// Dijkstra's shortest paths (Boost.Graph) from `sources` vertices of a random directed graph of
// `vertices` vertices and `edges_per_vertex` weighted edges each. Returns a checksum.
uint64_t GraphPaths(int vertices, int edges_per_vertex, int sources);

}  // namespace bench

#endif  // HOOKPROF_TOOLS_BENCH_REAL_WORKLOADS_H_
