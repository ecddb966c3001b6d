#include "tools/bench/real_workloads.h"

#include <stdio.h>

#include <limits>
#include <string>
#include <vector>

#include "boost/graph/adjacency_list.hpp"
#include "boost/graph/dijkstra_shortest_paths.hpp"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace bench {
namespace {

// A fixed pseudo-random sequence: every variant and run sees the same input.
struct Lcg {
  uint64_t state;
  uint32_t Next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  }
};

std::string Generate(int records, Lcg* rng) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartArray();
  char name[32];
  for (int i = 0; i < records; ++i) {
    const uint32_t r = rng->Next();
    w.StartObject();
    w.Key("id");
    w.Int(i);
    w.Key("name");
    snprintf(name, sizeof(name), "user-%08x", r);
    w.String(name);
    w.Key("score");
    w.Double(r / 1000.0);
    w.Key("active");
    w.Bool((r & 1) != 0);
    w.Key("tags");
    w.StartArray();
    for (int t = 0; t < 4; ++t) w.Int(static_cast<int>((r >> (t * 8)) & 0xff));
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  return std::string(out.GetString(), out.GetSize());
}

uint64_t Walk(const rapidjson::Value& v) {
  uint64_t sum = 0;
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) sum += Walk(e);
  } else if (v.IsObject()) {
    for (const auto& m : v.GetObject()) sum += m.name.GetStringLength() + Walk(m.value);
  } else if (v.IsInt()) {
    sum += static_cast<uint64_t>(v.GetInt());
  } else if (v.IsDouble()) {
    sum += static_cast<uint64_t>(v.GetDouble());
  } else if (v.IsString()) {
    sum += v.GetStringLength();
  } else if (v.IsBool()) {
    sum += v.GetBool() ? 1 : 0;
  }
  return sum;
}

}  // namespace

uint64_t JsonRoundTrip(int records, int rounds) {
  Lcg rng{42};
  uint64_t sum = 0;
  for (int r = 0; r < rounds; ++r) {
    const std::string text = Generate(records, &rng);
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError()) return 0;
    sum += Walk(doc);
    rapidjson::StringBuffer out;
    rapidjson::Writer<rapidjson::StringBuffer> w(out);
    doc.Accept(w);
    sum += out.GetSize() + text.size();
  }
  return sum;
}

uint64_t GraphPaths(int vertices, int edges_per_vertex, int sources) {
  using Graph =
      boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                            boost::property<boost::edge_weight_t, int>>;
  Lcg rng{7};
  Graph g(vertices);
  for (int v = 0; v < vertices; ++v) {
    for (int e = 0; e < edges_per_vertex; ++e) {
      // Sequenced: the order of a call's arguments differs between compilers.
      const int to = static_cast<int>(rng.Next() % vertices);
      const int weight = static_cast<int>(rng.Next() % 1000) + 1;
      boost::add_edge(v, to, weight, g);
    }
  }
  std::vector<int> dist(vertices);
  std::vector<Graph::vertex_descriptor> pred(vertices);
  uint64_t sum = 0;
  for (int s = 0; s < sources; ++s) {
    const auto source = boost::vertex(rng.Next() % vertices, g);
    boost::dijkstra_shortest_paths(
        g, source,
        boost::predecessor_map(
            boost::make_iterator_property_map(pred.begin(), boost::get(boost::vertex_index, g)))
            .distance_map(boost::make_iterator_property_map(dist.begin(),
                                                            boost::get(boost::vertex_index, g))));
    for (int d : dist) {
      if (d != std::numeric_limits<int>::max()) sum += static_cast<uint64_t>(d);
    }
  }
  return sum;
}

}  // namespace bench
