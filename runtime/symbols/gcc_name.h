// Names of functions from their DWARF (private to source_lines): GCC's printable names.
#ifndef HOOKPROF_RUNTIME_SYMBOLS_GCC_NAME_H_
#define HOOKPROF_RUNTIME_SYMBOLS_GCC_NAME_H_

#include <elfutils/libdw.h>

#include <string>

namespace hookprof {
namespace runtime {

// The DIE that declares the function of `die` (a concrete or abstract DIE): where its name and
// scopes are.
Dwarf_Die DeclarationOf(Dwarf_Die* die);

// The name GCC gives the function of `subprogram` (a concrete, abstract or declaration DIE) in
// its -finstrument-functions-exclude-function-list= matching, or "" when the DWARF does not
// hold enough to spell it (see GccPrintableName). Learns, across calls, how the types it met
// are spelt, for classes whose DWARF lacks their template parameters: callers serialize calls
// (source_lines' mutex).
std::string GccNameOfDie(Dwarf_Die* subprogram);
// Drops what GccNameOfDie learnt and cached (by DIE address): when DWARF files are closed.
void ForgetGccNames();

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_SYMBOLS_GCC_NAME_H_
