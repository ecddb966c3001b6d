// Instrumented code in a shared library loaded at run time with dlopen: its calls are counted,
// its functions symbolized and mapped to its file in the profile, and after dlclose they keep
// their names and mapping, even when no profile was taken while the library was loaded.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "instrument/stacks/frame_rules.h"
#include "runtime/core/snapshot.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/symbols/frame_rules_builder.h"
#include "runtime/symbols/symbolizer.h"
#include "runtime/windows/windows.h"
#include "tests/test_util.h"

namespace hookprof {
namespace {

std::string PluginPath() {
  const char* srcdir = getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/hookprof/tests/libhookprof_plugin.so";
}

TEST(DlopenTest, CountsSymbolizesAndMapsALibraryLoadedAtRunTime) {
  void* lib = dlopen(PluginPath().c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto work = reinterpret_cast<void (*)(int)>(dlsym(lib, "hookprof_plugin_work"));
  const uintptr_t leaf = reinterpret_cast<uintptr_t>(dlsym(lib, "hookprof_plugin_leaf"));
  ASSERT_NE(work, nullptr);
  ASSERT_NE(leaf, 0u);
  const runtime::Snapshot begin = runtime::Snapshot::Take();
  const instrument::ThreadState* s = testing::RunOnNewThread([work] { work(100); });
  EXPECT_EQ(testing::TotalCalls(s, leaf), 100u);

  const auto symbolizer = runtime::Symbolizer::Current();
  const runtime::Symbol* sym = symbolizer->FindSymbol(leaf);
  ASSERT_NE(sym, nullptr);
  EXPECT_EQ(sym->name, "hookprof_plugin_leaf");
  const int m = symbolizer->FindMapping(leaf);
  ASSERT_GE(m, 0);
  EXPECT_NE(symbolizer->mappings()[m].file.find("libhookprof_plugin.so"), std::string::npos);

  runtime::ProfileBuilder builder(symbolizer);
  runtime::BuildCpuProfile(runtime::Snapshot::Delta(begin, runtime::Snapshot::Take()), 1000000000,
                           10000000, &builder);
  const auto& p = builder.profile();
  bool found = false;
  for (const auto& loc : p.location()) {
    if (loc.address() != leaf || loc.line_size() == 0) continue;
    const auto& fn = p.function(loc.line(0).function_id() - 1);
    const auto& mapping = p.mapping(loc.mapping_id() - 1);
    found = p.string_table(fn.name()) == "hookprof_plugin_leaf" &&
            p.string_table(mapping.filename()).find("libhookprof_plugin.so") != std::string::npos;
  }
  EXPECT_TRUE(found) << "no location for the plugin's leaf with its name and mapping";

  ASSERT_EQ(dlclose(lib), 0);
  runtime::ProfileBuilder after(runtime::Symbolizer::Current());
  runtime::BuildCpuProfile(runtime::Snapshot::Take(), 1000000000, 10000000, &after);
  EXPECT_FALSE(after.Finish().empty());
}

TEST(DlopenTest, ALibraryUnloadedBeforeAnyProfileKeepsItsNames) {
  // Loaded, called and unloaded with no symbolizer made in between: the dlclose interposer
  // takes one while the library is still mapped. Three rounds, as a plugin host reloads.
  for (int round = 0; round < 3; ++round) {
    void* lib = dlopen(PluginPath().c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib, nullptr) << dlerror();
    auto work = reinterpret_cast<void (*)(int)>(dlsym(lib, "hookprof_plugin_work"));
    const uintptr_t leaf = reinterpret_cast<uintptr_t>(dlsym(lib, "hookprof_plugin_leaf"));
    ASSERT_NE(work, nullptr);
    const instrument::ThreadState* s = testing::RunOnNewThread([work] { work(10); });
    EXPECT_EQ(testing::TotalCalls(s, leaf), 10u);
    ASSERT_EQ(dlclose(lib), 0);

    const auto after = runtime::Symbolizer::Current();
    EXPECT_EQ(after->NameOf(leaf), "hookprof_plugin_leaf") << "round " << round;
    const int m = after->FindMapping(leaf);
    ASSERT_GE(m, 0) << "round " << round;
    EXPECT_TRUE(after->mappings()[m].unloaded);
    EXPECT_NE(after->mappings()[m].file.find("libhookprof_plugin.so"), std::string::npos);
  }
}

// The stack walks' frame rules (instrument/stacks/frame_rules.h) cover a library loaded after CPU
// sampling started from the next CPU window on, and leave it at its dlclose.
TEST(DlopenTest, ACpuWindowOpenedAfterDlopenHasTheLibrarysFrameRules) {
  runtime::PublishFrameRules();  // As Use() does when sampling starts.
  void* lib = dlopen(PluginPath().c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  const uintptr_t leaf = reinterpret_cast<uintptr_t>(dlsym(lib, "hookprof_plugin_leaf"));
  ASSERT_NE(leaf, 0u);
  EXPECT_EQ(instrument::FrameRuleAt(leaf).kind, instrument::kRuleNone) << "not published yet";
  runtime::CpuWindow::Open();
  EXPECT_EQ(instrument::FrameRuleAt(leaf).kind, instrument::kRuleRsp)
      << "a function's first instruction: the CFA is %rsp + 8";
  ASSERT_EQ(dlclose(lib), 0);
  EXPECT_EQ(instrument::FrameRuleAt(leaf).kind, instrument::kRuleNone);
}

}  // namespace
}  // namespace hookprof
