#include "cli/profile_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>

#include "re2/re2.h"
#include "runtime/core/json.h"
#include "runtime/pprof/profile.pb.h"

namespace hookprof {
namespace cli {
namespace {

using runtime::JsonEscape;

bool Gunzip(const std::string& in, std::string* out) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return false;  // +32: gzip or zlib header.
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[1 << 16];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out->append(buf, sizeof(buf) - zs.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&zs);
  return rc == Z_STREAM_END;
}

int64_t Change(int64_t base, int64_t now) { return now - base; }

std::string Percent(int64_t base, int64_t now) {
  if (base == now) return "0%";
  if (base == 0) return "new";
  char buf[32];
  snprintf(buf, sizeof(buf), "%+.1f%%", 100.0 * double(now - base) / double(base));
  return buf;
}

std::string Ms(int64_t ns) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f", double(ns) / 1e6);
  return buf;
}

void Table(const char* title, const std::vector<DiffRow>& rows, size_t top, std::string* out) {
  *out += title;
  *out += "\n";
  if (rows.empty()) {
    *out += "  (no change)\n";
    return;
  }
  char line[256];
  snprintf(line, sizeof(line), "  %12s %12s %9s %10s %10s  %s\n", "base calls", "new calls",
           "change", "base ms", "new ms", "name");
  *out += line;
  for (size_t i = 0; i < rows.size() && (top == 0 || i < top); ++i) {
    const DiffRow& r = rows[i];
    snprintf(line, sizeof(line), "  %12lld %12lld %9s %10s %10s  ",
             static_cast<long long>(r.base.calls), static_cast<long long>(r.now.calls),
             Percent(r.base.calls, r.now.calls).c_str(), Ms(r.base.cpu_ns).c_str(),
             Ms(r.now.cpu_ns).c_str());
    *out += line + r.name + "\n";
  }
  if (top != 0 && rows.size() > top) {
    *out += "  ... " + std::to_string(rows.size() - top) + " more (--top=0 for all)\n";
  }
}

std::string JsonRows(const std::vector<DiffRow>& rows, size_t top) {
  std::string s = "[";
  for (size_t i = 0; i < rows.size() && (top == 0 || i < top); ++i) {
    const DiffRow& r = rows[i];
    if (i != 0) s += ",";
    s += "{\"name\":\"" + JsonEscape(r.name) + "\",\"base_calls\":" + std::to_string(r.base.calls) +
         ",\"new_calls\":" + std::to_string(r.now.calls) +
         ",\"base_cpu_ns\":" + std::to_string(r.base.cpu_ns) +
         ",\"new_cpu_ns\":" + std::to_string(r.now.cpu_ns) + "}";
  }
  return s + "]";
}

}  // namespace

bool ReadProfileTotals(const std::string& path, ProfileTotals* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  if (bytes.size() >= 2 && uint8_t(bytes[0]) == 0x1f && uint8_t(bytes[1]) == 0x8b) {
    std::string raw;
    if (!Gunzip(bytes, &raw)) {
      *error = path + " is not a valid gzip file";
      return false;
    }
    bytes.swap(raw);
  }
  pprof::Profile p;
  if (bytes.empty() || !p.ParseFromString(bytes) || p.sample_type_size() == 0) {
    *error = path + " is not a pprof profile (profile.proto, gzipped or not)";
    return false;
  }
  auto str = [&](int64_t i) -> std::string {
    return i >= 0 && i < p.string_table_size() ? p.string_table(i) : std::string();
  };
  int calls = -1, cpu = -1;
  for (int i = 0; i < p.sample_type_size(); ++i) {
    const std::string type = str(p.sample_type(i).type());
    const std::string unit = str(p.sample_type(i).unit());
    if (type == "calls") calls = i;
    if (type == "cpu" && unit == "nanoseconds") cpu = i;
  }
  if (calls < 0 && cpu < 0) {
    *error = path + " has neither a calls nor a cpu (nanoseconds) sample type: not a CPU profile";
    return false;
  }
  out->has_calls = calls >= 0;
  out->has_cpu = cpu >= 0;
  std::unordered_map<uint64_t, std::string> functions;
  for (const auto& f : p.function()) functions[f.id()] = str(f.name());
  // A location's frames, innermost first (inlined functions before their callers).
  std::unordered_map<uint64_t, std::vector<std::string>> frames;
  for (const auto& loc : p.location()) {
    std::vector<std::string>& v = frames[loc.id()];
    for (const auto& line : loc.line()) {
      auto it = functions.find(line.function_id());
      v.push_back(it != functions.end() ? it->second : "?");
    }
    if (v.empty()) {
      char buf[32];
      snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(loc.address()));
      v.push_back(buf);
    }
  }
  for (const auto& s : p.sample()) {
    const int64_t c = calls >= 0 && calls < s.value_size() ? s.value(calls) : 0;
    const int64_t t = cpu >= 0 && cpu < s.value_size() ? s.value(cpu) : 0;
    if (c == 0 && t == 0) continue;
    std::vector<std::string> stack;
    for (uint64_t id : s.location_id()) {
      auto it = frames.find(id);
      if (it == frames.end()) {
        *error = path + ": a sample names location " + std::to_string(id) + ", which is missing";
        return false;
      }
      stack.insert(stack.end(), it->second.begin(), it->second.end());
    }
    if (stack.empty()) continue;
    std::string key;
    for (const std::string& f : stack) key += (key.empty() ? "" : " <- ") + f;
    Totals& path_totals = out->paths[key];
    path_totals.calls += c;
    path_totals.cpu_ns += t;
    Totals& leaf = out->functions[stack[0]];
    leaf.calls += c;
    leaf.cpu_ns += t;
    std::set<std::string> seen;  // Recursion counts a sample once.
    for (const std::string& f : stack) {
      if (seen.insert(f).second) out->functions[f].cum_cpu_ns += t;
    }
  }
  return true;
}

std::vector<DiffRow> DiffRows(const std::map<std::string, Totals>& base,
                              const std::map<std::string, Totals>& now) {
  std::map<std::string, DiffRow> rows;
  for (const auto& [name, t] : base) rows[name].base = t;
  for (const auto& [name, t] : now) rows[name].now = t;
  std::vector<DiffRow> out;
  for (auto& [name, r] : rows) {
    if (r.base.calls == r.now.calls && r.base.cpu_ns == r.now.cpu_ns) continue;
    r.name = name;
    out.push_back(r);
  }
  std::stable_sort(out.begin(), out.end(), [](const DiffRow& a, const DiffRow& b) {
    const int64_t ca = llabs(Change(a.base.calls, a.now.calls));
    const int64_t cb = llabs(Change(b.base.calls, b.now.calls));
    if (ca != cb) return ca > cb;
    return llabs(Change(a.base.cpu_ns, a.now.cpu_ns)) > llabs(Change(b.base.cpu_ns, b.now.cpu_ns));
  });
  return out;
}

int Diff(const ProfileTotals& base, const ProfileTotals& now, const DiffOptions& options,
         std::string* out, std::string* error) {
  const bool checks = options.fail_calls_above_pct >= 0 || !options.fail_on.empty();
  if (checks && !(base.has_calls && now.has_calls)) {
    *error = "the call checks need exact calls in both profiles (hookprof's calls sample type)";
    return 2;
  }
  std::unique_ptr<RE2> only;
  if (!options.fail_on.empty()) {
    only.reset(new RE2(options.fail_on, RE2::Quiet));
    if (!only->ok()) {
      *error = "bad --fail-on pattern: " + only->error();
      return 2;
    }
  }
  const std::vector<DiffRow> functions = DiffRows(base.functions, now.functions);
  const std::vector<DiffRow> paths = DiffRows(base.paths, now.paths);
  // Growth beyond the limit (any growth with --fail-on alone).
  const double limit = options.fail_calls_above_pct >= 0 ? options.fail_calls_above_pct : 0;
  std::vector<std::string> failed;
  if (checks) {
    for (const DiffRow& r : functions) {
      if (only != nullptr && !RE2::PartialMatch(r.name, *only)) continue;
      if (r.now.calls <= r.base.calls) continue;
      const bool over = r.base.calls == 0 ||
                        100.0 * double(r.now.calls - r.base.calls) / double(r.base.calls) > limit;
      if (over) {
        failed.push_back(r.name + ": " + std::to_string(r.base.calls) + " -> " +
                         std::to_string(r.now.calls) + " calls (" +
                         Percent(r.base.calls, r.now.calls) + ")");
      }
    }
  }
  if (options.format == "json") {
    *out = "{\"exact_calls\":" + std::string(base.has_calls && now.has_calls ? "true" : "false") +
           ",\"functions\":" + JsonRows(functions, options.top) +
           ",\"paths\":" + JsonRows(paths, options.top) + ",\"failed\":[";
    for (size_t i = 0; i < failed.size(); ++i) {
      *out += (i == 0 ? "\"" : ",\"") + JsonEscape(failed[i]) + "\"";
    }
    *out += "]}\n";
  } else {
    if (!(base.has_calls && now.has_calls)) {
      *out += "note: calls are not in both profiles; CPU only\n";
    }
    Table("functions (calls and CPU ending in the function):", functions, options.top, out);
    Table("call paths (leaf <- callers):", paths, options.top, out);
    for (const std::string& f : failed) *out += "FAIL: " + f + "\n";
  }
  return failed.empty() ? 0 : 1;
}

}  // namespace cli
}  // namespace hookprof
