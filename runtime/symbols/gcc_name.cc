// GCC prints a class template's arguments without the trailing ones that are defaults
// ("ns::Buf<ns::Enc<> >" for ns::Buf<ns::Enc<char>, ns::Alloc>), and its exclusion lists match
// that spelling. The symbol table's names keep every argument; GCC's DWARF 5 marks a template
// parameter given its default with DW_AT_default_value, which is what lets the name be rebuilt.
#include "runtime/symbols/gcc_name.h"

#include <dwarf.h>
#include <stdint.h>
#include <stdlib.h>

#include <algorithm>
#include <map>
#include <vector>

namespace hookprof {
namespace runtime {
namespace {

constexpr int kMaxNesting = 16;

std::string ScopedName(Dwarf_Die* die, int nesting);
std::string TypeName(Dwarf_Die* type, int nesting);

// The arguments of a template-id's list ("ns::Enc<char>, ns::Alloc"), split at top-level commas.
std::vector<std::string> SplitArguments(const std::string& list) {
  std::vector<std::string> out(1);
  int depth = 0;
  for (char c : list) {
    depth += (c == '<' || c == '(' || c == '[') ? 1 : (c == '>' || c == ')' || c == ']') ? -1 : 0;
    if (c == ',' && depth == 0) {
      out.emplace_back();
    } else if (!(c == ' ' && out.back().empty())) {
      out.back() += c;
    }
  }
  return out;
}

// Types whose GCC spelling differs from DWARF's, by their qualified DWARF spelling (which keeps
// every argument). GCC writes no template parameter DIEs for some classes (std::allocator
// instantiations), so their arguments can only be respelt from what other DIEs taught. Callers
// hold source_lines' mutex.
constexpr size_t kMaxKnown = 4096;  // Names of template-heavy code run to kilobytes.
std::map<std::string, std::string>& Known() {
  static auto* known = new std::map<std::string, std::string>;
  return *known;
}

// `text`, a DWARF spelling, with every type known to be spelt otherwise respelt (longest first:
// a longer one holds shorter ones already respelt).
std::string Respell(std::string text) {
  std::vector<const std::pair<const std::string, std::string>*> found;
  for (const auto& k : Known()) {
    if (text.find(k.first) != std::string::npos) found.push_back(&k);
  }
  std::sort(found.begin(), found.end(),
            [](const auto* a, const auto* b) { return a->first.size() > b->first.size(); });
  for (const auto* k : found) {
    for (size_t at = 0; (at = text.find(k->first, at)) != std::string::npos;) {
      text.replace(at, k->first.size(), k->second);
      at += k->second.size();
    }
  }
  return text;
}

// ScopedName's results by DIE (its address in the file's DWARF data), for those spelt without
// a guess: dwarf_getscopes_die walks the compile unit from its start every time.
std::map<const void*, std::string>& Spelt() {
  static auto* spelt = new std::map<const void*, std::string>;
  return *spelt;
}
uint64_t g_guesses = 0;  // Arguments respelt from text because their DIEs said too little.

bool IsClass(int tag) {
  return tag == DW_TAG_class_type || tag == DW_TAG_structure_type || tag == DW_TAG_union_type;
}

bool IsDefault(Dwarf_Die* param) {
  Dwarf_Attribute attr;
  bool flag = false;
  return dwarf_attr(param, DW_AT_default_value, &attr) != nullptr &&
         dwarf_formflag(&attr, &flag) == 0 && flag;
}

// A type as GCC prints it in a template argument list, for the shapes template arguments take
// in the code hookprof met (classes, builtin types, pointers, references, const); "" for others.
std::string TypeName(Dwarf_Die* type, int nesting) {
  if (nesting > kMaxNesting) return "";
  const int tag = dwarf_tag(type);
  if (IsClass(tag) || tag == DW_TAG_enumeration_type) return ScopedName(type, nesting);
  if (tag == DW_TAG_base_type) {
    const char* name = dwarf_diename(type);
    return name != nullptr ? name : "";
  }
  Dwarf_Attribute attr;
  Dwarf_Die inner;
  const bool has_inner = dwarf_formref_die(dwarf_attr(type, DW_AT_type, &attr), &inner) != nullptr;
  std::string of = has_inner ? TypeName(&inner, nesting + 1) : "void";
  if (of.empty()) return "";
  switch (tag) {
    case DW_TAG_pointer_type:
      return has_inner && dwarf_tag(&inner) == DW_TAG_subroutine_type ? "" : of + "*";
    case DW_TAG_reference_type:
      return of + "&";
    case DW_TAG_rvalue_reference_type:
      return of + "&&";
    case DW_TAG_const_type:
    case DW_TAG_volatile_type: {
      const char* q = tag == DW_TAG_const_type ? "const" : "volatile";
      return has_inner && dwarf_tag(&inner) == DW_TAG_pointer_type ? of + " " + q
                                                                   : std::string(q) + " " + of;
    }
    default:
      return "";
  }
}

// A class's own name with its template arguments as GCC prints them; "" when unknown.
std::string ClassName(Dwarf_Die* die, int nesting) {
  const char* raw = dwarf_diename(die);
  if (raw == nullptr) return "";
  const std::string name = raw;
  const size_t open = name.find('<');
  if (open == std::string::npos || name.back() != '>') return name;
  std::vector<Dwarf_Die> params;
  Dwarf_Die child;
  if (dwarf_child(die, &child) == 0) {
    do {
      const int tag = dwarf_tag(&child);
      if (tag == DW_TAG_template_type_parameter || tag == DW_TAG_template_value_parameter) {
        params.push_back(child);
      } else if (tag == DW_TAG_GNU_template_parameter_pack ||
                 tag == DW_TAG_GNU_template_template_param) {
        return "";  // Not one argument per parameter.
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  const std::vector<std::string> args =
      SplitArguments(name.substr(open + 1, name.size() - open - 2));
  if (args.size() != params.size()) return "";  // A declaration without its parameters.
  size_t keep = params.size();
  while (keep > 0 && IsDefault(&params[keep - 1])) --keep;
  std::string out = name.substr(0, open + 1);
  for (size_t i = 0; i < keep; ++i) {
    std::string arg = args[i];
    Dwarf_Attribute attr;
    Dwarf_Die type;
    // Classes among the arguments lose their own defaults too ("ns::Enc<>", "const ns::Enc<>*");
    // other arguments are as GCC wrote them, with the types known to be spelt otherwise respelt.
    std::string spelt;
    if (dwarf_tag(&params[i]) == DW_TAG_template_type_parameter &&
        dwarf_formref_die(dwarf_attr(&params[i], DW_AT_type, &attr), &type) != nullptr) {
      spelt = TypeName(&type, nesting + 1);
    }
    if (spelt.empty() && dwarf_tag(&params[i]) == DW_TAG_template_type_parameter) ++g_guesses;
    arg = spelt.empty() ? Respell(arg) : spelt;
    out += (i == 0 ? "" : ", ") + arg;
  }
  return out + (out.back() == '>' ? " >" : ">");
}

// A class's or enumeration's name inside its namespaces and classes ("ns::Buf<ns::Enc<> >"); ""
// when unknown.
std::string ScopedName(Dwarf_Die* die, int nesting) {
  const char* own = dwarf_diename(die);
  if (nesting > kMaxNesting || own == nullptr) return "";
  auto cached = Spelt().find(die->addr);
  if (cached != Spelt().end()) return cached->second;
  const uint64_t guesses = g_guesses;
  const int tag = dwarf_tag(die);
  std::string raw = own;
  std::string out = IsClass(tag)                     ? ClassName(die, nesting)
                    : tag == DW_TAG_enumeration_type ? own
                                                     : "";
  if (out.empty()) {
    ++g_guesses;
    out = Respell(own);
  }
  Dwarf_Die* scopes = nullptr;
  const int n = dwarf_getscopes_die(die, &scopes);
  for (int i = 1; i < n; ++i) {  // scopes[0] is `die`.
    const int scope_tag = dwarf_tag(&scopes[i]);
    const char* name = dwarf_diename(&scopes[i]);
    if (scope_tag == DW_TAG_namespace) {
      const std::string scope = name != nullptr ? name : "{anonymous}";
      raw = scope + "::" + raw;
      out = scope + "::" + out;
    } else if (IsClass(scope_tag) && name != nullptr) {
      const std::string scope = ClassName(&scopes[i], nesting + 1);
      raw = std::string(name) + "::" + raw;
      g_guesses += scope.empty();
      out = (scope.empty() ? Respell(name) : scope) + "::" + out;
    }  // Else the compile unit, or a function around a local class.
  }
  free(scopes);
  if (out != raw) {
    if (Known().size() >= kMaxKnown) Known().clear();
    Known()[raw] = out;
  }
  if (g_guesses == guesses) {
    if (Spelt().size() >= kMaxKnown) Spelt().clear();
    Spelt()[die->addr] = out;
  }
  return out;
}

}  // namespace

void ForgetGccNames() {
  Known().clear();
  Spelt().clear();
}

Dwarf_Die DeclarationOf(Dwarf_Die* die) {
  Dwarf_Die decl = *die;
  Dwarf_Attribute attr;
  for (int hops = 0; hops < 8; ++hops) {  // Concrete -> abstract -> declaration.
    Dwarf_Die next;
    if ((dwarf_attr(&decl, DW_AT_abstract_origin, &attr) == nullptr &&
         dwarf_attr(&decl, DW_AT_specification, &attr) == nullptr) ||
        dwarf_formref_die(&attr, &next) == nullptr) {
      break;
    }
    decl = next;
  }
  return decl;
}

std::string GccNameOfDie(Dwarf_Die* subprogram) {
  Dwarf_Die decl = DeclarationOf(subprogram);
  const char* raw = dwarf_diename(&decl);
  if (raw == nullptr) return "";
  std::string name = raw;
  // A function template's own arguments are not in GCC's name ("twice<int>" -> "twice").
  if (name.compare(0, 8, "operator") != 0) name = name.substr(0, name.find('<'));
  Dwarf_Die* scopes = nullptr;
  const int n = dwarf_getscopes_die(&decl, &scopes);
  for (int i = 1; i < n && !name.empty(); ++i) {
    const int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_namespace) {
      const char* scope = dwarf_diename(&scopes[i]);
      name = std::string(scope != nullptr ? scope : "{anonymous}") + "::" + name;
    } else if (IsClass(tag)) {
      const std::string scope = ScopedName(&scopes[i], 0);
      name = scope.empty() ? "" : scope + "::" + name;
      break;  // ScopedName spelt the class's own scopes.
    }
  }
  free(scopes);
  return name;
}

}  // namespace runtime
}  // namespace hookprof
