// The docs pages that come from tables in the code must be those tables' own rendering:
// docs/options.md from hookprof_options.inc, docs/endpoints.md from the route table.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>

#include "options.h"
#include "server/router.h"

namespace hookprof {
namespace {

std::string ReadDoc(const std::string& name) {
  const char* srcdir = getenv("TEST_SRCDIR");
  EXPECT_NE(srcdir, nullptr);
  std::ifstream in(std::string(srcdir != nullptr ? srcdir : ".") + "/hookprof/docs/" + name);
  EXPECT_TRUE(in) << name << " not found";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The table in `page` that starts with `header`'s first line, up to the blank line after it.
std::string TableIn(const std::string& page, const std::string& header) {
  const size_t start = page.find(header.substr(0, header.find('\n')));
  if (start == std::string::npos) return "";
  const size_t end = page.find("\n\n", start);
  return page.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
}

TEST(DocsTest, OptionsPageShowsTheOptionsTable) {
  const std::string table = options_internal::MarkdownTable();
  EXPECT_EQ(TableIn(ReadDoc("options.md"), table), table)
      << "docs/options.md's table differs from hookprof_options.inc; paste this:\n"
      << table;
}

TEST(DocsTest, EndpointsPageShowsTheRouteTable) {
  const std::string table = server::EndpointsMarkdown();
  EXPECT_EQ(TableIn(ReadDoc("endpoints.md"), table), table)
      << "docs/endpoints.md's table differs from server/routes.cc; paste this:\n"
      << table;
}

}  // namespace
}  // namespace hookprof
