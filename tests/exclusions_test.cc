// The exclusion lists' spelling of names: what GCC's -finstrument-functions-exclude-function-list
// can match (substrings of its printable names, the list split at unescaped commas).
#include "runtime/reports/exclusions.h"

#include <gtest/gtest.h>

namespace hookprof {
namespace {

runtime::ExclusionReport ReportOf(const std::vector<std::string>& names) {
  runtime::ExclusionReport report;
  for (const std::string& n : names) {
    runtime::ExcludedFunction f;
    f.name = n;
    f.mangled = "_Z" + std::to_string(report.functions.size());
    report.functions.push_back(f);
  }
  return report;
}

TEST(ExclusionsTest, GccListHoldsQualifiedNamesWithoutParametersOrAbiTags) {
  EXPECT_EQ(runtime::GccExcludeFlag(ReportOf(
                {"demo::Fib(int)", "demo::Name[abi:cxx11](int)", "ns::Box<int>::get() const"})),
            "-finstrument-functions-exclude-function-list=demo::Fib,demo::Name,ns::Box<int>::get");
}

TEST(ExclusionsTest, GccListSpellsNamesAsGccPrintsThem) {
  // Checked with GCC 12: it matches "ns::twice" and "ns::S<long int>::conv", not the return
  // type, not "long" for "long int".
  EXPECT_EQ(runtime::GccExcludeFlag(ReportOf({
                "int ns::twice<int>(int)",
                "int* ns::S<long>::conv<int>(int*)",
                "ns::Box<unsigned long>::get() const",
                "std::vector<int, std::allocator<int> > ns::make<short>(short)",
                "ns::D<long double, long long>::f()",
            })),
            "-finstrument-functions-exclude-function-list=ns::twice,ns::S<long int>::conv,"
            "ns::Box<long unsigned int>::get,ns::make,ns::D<long double\\, long long int>::f");
}

TEST(ExclusionsTest, GccListEscapesTheCommasOfTemplateArgumentLists) {
  // GCC splits the list at commas and takes "\," as a comma of a name (checked with GCC 12).
  EXPECT_EQ(runtime::GccExcludeFlag(ReportOf({
                "ns::Two<ns::In<char>, ns::In<ns::In<int> > >::get() const",
                "std::map<int, int>::find(int const&)",
            })),
            "-finstrument-functions-exclude-function-list="
            "ns::Two<ns::In<char>\\, ns::In<ns::In<int> > >::get,std::map<int\\, int>::find");
}

TEST(ExclusionsTest, GccListSpellsAnonymousNamespacesAndOperatorsAsGccPrintsThem) {
  // Checked with GCC 12: "{anonymous}::K::run", "ns::F::operator()", "ns::F::operator<".
  EXPECT_EQ(runtime::GccExcludeFlag(ReportOf({
                "(anonymous namespace)::K::run()",
                "ns::F::operator()(int)",
                "ns::F::operator<(ns::F const&) const",
                "ns::F::operator>(ns::F const&) const",
            })),
            "-finstrument-functions-exclude-function-list={anonymous}::K::run,ns::F::operator(),"
            "ns::F::operator<,ns::F::operator>");
}

TEST(ExclusionsTest, GccListTakesGccsOwnNameWhenTheDwarfGaveIt) {
  // The DWARF's spelling leaves default template arguments out; a comma left in is escaped.
  runtime::ExclusionReport report =
      ReportOf({"ns::Buf<ns::Enc<char>, ns::Alloc>::Put(char)",
                "ns::R<ns::Enc<char>, ns::Enc<char>, ns::Alloc>::P()"});
  report.functions[0].gcc_name = "ns::Buf<ns::Enc<> >::Put";
  report.functions[1].gcc_name = "ns::R<ns::Enc<>, ns::Enc<> >::P";
  EXPECT_EQ(runtime::GccExcludeFlag(report),
            "-finstrument-functions-exclude-function-list=ns::Buf<ns::Enc<> >::Put,"
            "ns::R<ns::Enc<>\\, ns::Enc<> >::P");
}

TEST(ExclusionsTest, XrayListNamesEveryFunctionByItsMangledName) {
  EXPECT_EQ(runtime::XrayAttrList(ReportOf({"a::f()", "b<int, int>::g()"})),
            "[never]\nfun:_Z0\nfun:_Z1\n");
}

}  // namespace
}  // namespace hookprof
