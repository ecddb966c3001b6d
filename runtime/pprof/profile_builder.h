// Builds pprof profiles (profile.proto) from code addresses, with interned strings, one
// Location per address, one Function per symbol and the Mapping table from the Symbolizer.
// Every mapping is marked has_functions, so no pprof client needs to call back for symbols.
//
// Thread-safety: a builder is used by one thread at a time.
#ifndef HOOKPROF_RUNTIME_PPROF_PROFILE_BUILDER_H_
#define HOOKPROF_RUNTIME_PPROF_PROFILE_BUILDER_H_

#include <stdint.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/pprof/profile.pb.h"
#include "runtime/symbols/source_lines.h"
#include "runtime/symbols/symbolizer.h"

namespace hookprof {
namespace runtime {

class ProfileBuilder {
 public:
  explicit ProfileBuilder(std::shared_ptr<const Symbolizer> symbolizer);

  int64_t Intern(const std::string& s);
  void AddSampleType(const std::string& type, const std::string& unit);
  void SetPeriod(const std::string& type, const std::string& unit, int64_t period);
  // Location of a code address: its source line and the functions inlined there (DWARF, see
  // runtime/symbols/source_lines.h), else the symbol table's function. A caller's frame is looked
  // up at its return address - 1 (the call instruction). Id 0 is never returned.
  uint64_t LocationFor(uint64_t address);
  // A location with no address for things that are not code ("[thread root]").
  uint64_t PseudoLocation(const std::string& name);
  void AddComment(const std::string& comment);

  pprof::Profile& profile() { return profile_; }
  const Symbolizer& symbolizer() const { return *symbolizer_; }

  // Serialized and gzip-compressed, as pprof's HTTP endpoints serve it.
  std::string Finish();

 private:
  uint64_t FunctionFor(const std::string& name, const std::string& system_name,
                       const std::string& filename = std::string(), int64_t start_line = 0);
  std::string UnknownFunctionName(uint64_t address) const;
  uint64_t MappingFor(int symbolizer_index);
  // A new location for `address` with its mapping, its id in `id`; nullptr (and the existing
  // location's id) if the address has one already.
  pprof::Location* NewLocation(uint64_t address, uint64_t* id);

  std::shared_ptr<const Symbolizer> symbolizer_;
  pprof::Profile profile_;
  std::unordered_map<std::string, int64_t> strings_;
  std::unordered_map<uint64_t, uint64_t> locations_;     // address -> id
  std::unordered_map<std::string, uint64_t> pseudo_;     // name -> location id
  std::unordered_map<std::string, uint64_t> functions_;  // system name -> id
  std::vector<uint64_t> mapping_ids_;                    // symbolizer index -> id (0 = none)
};

// gzip (RFC 1952) of `data`, as pprof clients expect profiles on the wire.
std::string Gzip(const std::string& data);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PPROF_PROFILE_BUILDER_H_
