// goroutine (threads) and threadcreate, through the handlers as clients see them.
#include "runtime/pprof/thread_profile.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <thread>

#include "server/router.h"
#include "tests/workload.h"

namespace hookprof {
namespace {

server::Response Get(const std::string& target, int64_t* waited = nullptr) {
  server::Env env;
  env.wait = [waited](int64_t nanos) {
    if (waited != nullptr) *waited += nanos;
    return true;
  };
  server::Request r;
  r.method = "GET";
  r.target = target;
  instrument::ScopedGuard guard;  // As every real caller: see HandleRequest's contract.
  return server::HandleRequest(r, env);
}

TEST(ThreadProfileTest, DumpsEveryLiveThreadWithNameStateAndStack) {
  std::atomic<bool> go{false};
  std::thread parked([&] {
    pthread_setname_np(pthread_self(), "parked");
    workload::Park(&go);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const server::Response dump = Get("/debug/pprof/goroutine?debug=2");
  const server::Response text = Get("/debug/pprof/threads?debug=1");
  const server::Response proto = Get("/debug/pprof/goroutine");
  go = true;
  parked.join();
  EXPECT_EQ(dump.status, 200);
  const size_t at = dump.body.find("\"parked\" [");
  ASSERT_NE(at, std::string::npos) << dump.body;
  // Mostly asleep in WaitHere's loop; caught between two sleeps it is running.
  const std::string state = dump.body.substr(at + 10, dump.body.find(']', at) - at - 10);
  EXPECT_TRUE(state == "sleeping" || state == "running") << state;
  const std::string block = dump.body.substr(at, dump.body.find("\n\n", at) - at);
  EXPECT_NE(block.find("workload::WaitHere(std::atomic<bool> const*)\n"), std::string::npos)
      << block;
  EXPECT_LT(block.find("workload::WaitHere"), block.find("workload::Park")) << "leaf first";
  EXPECT_EQ(text.body.rfind("goroutine profile: total ", 0), 0u) << text.body;
  EXPECT_NE(text.body.find("\tworkload::WaitHere(std::atomic<bool> const*)+0x0\n"),
            std::string::npos);
  EXPECT_EQ(proto.content_type, "application/octet-stream");
}

TEST(ThreadProfileTest, RecordsTheStackThatCreatedEachThread) {
  workload::SpawnFromHere([] { workload::Leaf(); });
  const server::Response text = Get("/debug/pprof/threadcreate?debug=1");
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.body.rfind("threadcreate profile: total ", 0), 0u) << text.body;
  EXPECT_NE(text.body.find("\tworkload::SpawnFromHere(void (*)())+0x0\n"), std::string::npos)
      << text.body;
}

TEST(ThreadProfileTest, DeltaOverSecondsAndGoErrors) {
  int64_t waited = 0;
  const server::Response delta = Get("/debug/pprof/threadcreate?seconds=2", &waited);
  EXPECT_EQ(delta.status, 200);
  EXPECT_EQ(waited, 2000000000);
  bool named = false;
  for (const auto& h : delta.headers) {
    named |= h.second == "attachment; filename=\"threadcreate-delta\"";
  }
  EXPECT_TRUE(named);
  EXPECT_EQ(Get("/debug/pprof/goroutine?seconds=1&debug=1").body,
            "seconds and debug params are incompatible\n");
  EXPECT_EQ(Get("/debug/pprof/goroutine?debug=7").status, 400);
  EXPECT_EQ(Get("/debug/pprof/goroutine?seconds=-1").status, 400);
}

}  // namespace
}  // namespace hookprof
