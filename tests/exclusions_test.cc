// The exclusion lists' spelling of names: what GCC's -finstrument-functions-exclude-function-list
// can match (substrings of its printable names, the list split at commas).
#include "runtime/exclusions.h"

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
            "ns::Box<long unsigned int>::get,ns::make");
}

TEST(ExclusionsTest, GccListCutsTemplateArgumentListsAtTheirLastComma) {
  // GCC splits the list at commas: what follows the last one still names the function when it
  // is a qualified type and a member, and is given once however many instantiations share it.
  EXPECT_EQ(runtime::GccExcludeFlag(ReportOf({
                "ns::Two<ns::In<char>, ns::In<ns::In<int> > >::get() const",
                "ns::Two<ns::In<long>, ns::In<ns::In<int> > >::get() const",
                "std::map<int, int>::find(int const&)",  // "int>::find" would match too much.
                "rapidjson::EncodedInputStream<rapidjson::UTF8<char>, "
                "rapidjson::MemoryStream>::Peek() const",
            })),
            "-finstrument-functions-exclude-function-list=ns::In<ns::In<int> > >::get,"
            "rapidjson::MemoryStream>::Peek");
}

TEST(ExclusionsTest, XrayListNamesEveryFunctionByItsMangledName) {
  EXPECT_EQ(runtime::XrayAttrList(ReportOf({"a::f()", "b<int, int>::g()"})),
            "[never]\nfun:_Z0\nfun:_Z1\n");
}

}  // namespace
}  // namespace hookprof
