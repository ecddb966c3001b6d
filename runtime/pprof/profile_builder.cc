#include "runtime/pprof/profile_builder.h"

#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

namespace hookprof {
namespace runtime {

ProfileBuilder::ProfileBuilder(std::shared_ptr<const Symbolizer> symbolizer)
    : symbolizer_(std::move(symbolizer)), mapping_ids_(symbolizer_->mappings().size(), 0) {
  Intern("");  // string_table[0] must be "".
  // The main executable's code mapping first: pprof names a profile after mapping 1.
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    const std::string path(exe, n);
    const auto& mappings = symbolizer_->mappings();
    for (size_t i = 0; i < mappings.size(); ++i) {
      if (mappings[i].file == path) {
        MappingFor(static_cast<int>(i));
        break;
      }
    }
  }
}

uint64_t ProfileBuilder::MappingFor(int m) {
  if (mapping_ids_[m] == 0) {
    const Mapping& src = symbolizer_->mappings()[m];
    auto* mp = profile_.add_mapping();
    mapping_ids_[m] = profile_.mapping_size();
    mp->set_id(mapping_ids_[m]);
    mp->set_memory_start(src.start);
    mp->set_memory_limit(src.limit);
    mp->set_file_offset(src.offset);
    mp->set_filename(Intern(src.file));
    mp->set_build_id(Intern(src.build_id));
    mp->set_has_functions(true);
  }
  return mapping_ids_[m];
}

namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF).
size_t Utf8Length(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // Bounds of the second byte.
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

// profile.proto's strings are proto3 `string`s, which readers may reject unless they are UTF-8;
// thread names, file paths and symbols are arbitrary bytes. Each invalid byte becomes U+FFFD.
std::string ValidUtf8(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace

int64_t ProfileBuilder::Intern(const std::string& s) {
  auto it = strings_.find(s);
  if (it != strings_.end()) return it->second;
  const int64_t id = profile_.string_table_size();
  profile_.add_string_table(ValidUtf8(s));
  strings_.emplace(s, id);
  return id;
}

void ProfileBuilder::AddSampleType(const std::string& type, const std::string& unit) {
  auto* vt = profile_.add_sample_type();
  vt->set_type(Intern(type));
  vt->set_unit(Intern(unit));
}

void ProfileBuilder::SetPeriod(const std::string& type, const std::string& unit, int64_t period) {
  profile_.mutable_period_type()->set_type(Intern(type));
  profile_.mutable_period_type()->set_unit(Intern(unit));
  profile_.set_period(period);
}

void ProfileBuilder::AddComment(const std::string& comment) {
  profile_.add_comment(Intern(comment));
}

uint64_t ProfileBuilder::FunctionFor(const std::string& name, const std::string& system_name,
                                     const std::string& filename, int64_t start_line) {
  const std::string key = filename.empty() ? system_name : system_name + '\0' + filename;
  auto it = functions_.find(key);
  if (it != functions_.end()) return it->second;
  auto* f = profile_.add_function();
  const uint64_t id = profile_.function_size();
  f->set_id(id);
  f->set_name(Intern(name));
  f->set_system_name(Intern(system_name));
  if (!filename.empty()) f->set_filename(Intern(filename));
  if (start_line > 0) f->set_start_line(start_line);
  functions_.emplace(key, id);
  return id;
}

pprof::Location* ProfileBuilder::NewLocation(uint64_t address, uint64_t* id) {
  auto it = locations_.find(address);
  if (it != locations_.end()) {
    *id = it->second;
    return nullptr;
  }
  auto* loc = profile_.add_location();
  *id = profile_.location_size();
  loc->set_id(*id);
  loc->set_address(address);
  const int m = symbolizer_->FindMapping(address);
  if (m >= 0) loc->set_mapping_id(MappingFor(m));
  locations_.emplace(address, *id);
  return loc;
}

uint64_t ProfileBuilder::LocationFor(uint64_t address) {
  uint64_t id;
  auto* loc = NewLocation(address, &id);
  if (loc == nullptr) return id;
  // One Line per function at the address, innermost first, as profile.proto orders them.
  auto frames = LookupSourceFrames(*symbolizer_, address);
  if (!frames->empty()) {
    if (loc->mapping_id() != 0) {
      auto* mapping = profile_.mutable_mapping(static_cast<int>(loc->mapping_id() - 1));
      mapping->set_has_filenames(true);
      mapping->set_has_line_numbers(true);
      mapping->set_has_inline_frames(true);
    }
    const Symbol* sym = symbolizer_->FindSymbol(address);
    for (size_t i = 0; i < frames->size(); ++i) {
      const SourceFrame& f = (*frames)[i];
      auto* l = loc->add_line();
      // DWARF names some functions without their scope (no linkage name: internal linkage);
      // the outermost one is the symbol, which has it.
      const bool outermost = i + 1 == frames->size();
      const bool from_symbol = outermost && sym != nullptr && f.name == f.system_name;
      l->set_function_id(FunctionFor(from_symbol ? sym->name : f.name,
                                     from_symbol ? sym->mangled : f.system_name, f.line.file,
                                     f.start_line));
      if (f.line.line > 0) l->set_line(f.line.line);
    }
    return id;
  }
  std::string name, system_name;
  if (const Symbol* sym = symbolizer_->FindSymbol(address)) {
    name = sym->name;
    system_name = sym->mangled;
  } else {
    name = system_name = UnknownFunctionName(address);
  }
  loc->add_line()->set_function_id(FunctionFor(name, system_name));
  return id;
}

std::string ProfileBuilder::UnknownFunctionName(uint64_t address) const {
  // Code without a symbol (libc's internal functions, stripped libraries) is named after its
  // file and offset, which a reader can still look up with the right debug files.
  char buf[64];
  const int m = symbolizer_->FindMapping(address);
  if (m < 0) {
    snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(address));
    return buf;
  }
  const Mapping& mapping = symbolizer_->mappings()[m];
  const size_t slash = mapping.file.rfind('/');
  snprintf(buf, sizeof(buf), "+0x%llx",
           static_cast<unsigned long long>(address - mapping.start + mapping.offset));
  return (slash == std::string::npos ? mapping.file : mapping.file.substr(slash + 1)) + buf;
}

uint64_t ProfileBuilder::PseudoLocation(const std::string& name) {
  auto it = pseudo_.find(name);
  if (it != pseudo_.end()) return it->second;
  auto* loc = profile_.add_location();
  const uint64_t id = profile_.location_size();
  loc->set_id(id);
  loc->add_line()->set_function_id(FunctionFor(name, name));
  pseudo_.emplace(name, id);
  return id;
}

std::string ProfileBuilder::Finish() { return Gzip(profile_.SerializeAsString()); }

std::string Gzip(const std::string& data) {
  z_stream zs = {};
  // 15 window bits + 16: a gzip header and trailer instead of zlib's.
  // Fastest level, as Go's profile writer: profiles are fetched live and re-read rarely.
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return "";
  }
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = data.size();
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = out.size();
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : "";
}

}  // namespace runtime
}  // namespace hookprof
