// A user's program: exact work (1000 records of 10 fields), heap it keeps, a contended lock,
// then it keeps running for RECORDS_SECONDS so a live profile can be fetched.
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace records {

__attribute__((noinline)) uint64_t ParseField(uint64_t x) { return x * 31 + 7; }

__attribute__((noinline)) uint64_t ParseRecord(int fields) {
  uint64_t h = 0;
  for (int i = 0; i < fields; ++i) h += ParseField(h + i);
  return h;
}

std::vector<std::unique_ptr<char[]>>* kept = new std::vector<std::unique_ptr<char[]>>;

__attribute__((noinline)) void KeepBuffers() {
  for (int i = 0; i < 100; ++i) kept->emplace_back(new char[10000]);
}

std::mutex mu;

__attribute__((noinline)) void HoldLock() {
  std::lock_guard<std::mutex> lock(mu);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

__attribute__((noinline)) void WaitForLock() { std::lock_guard<std::mutex> lock(mu); }

}  // namespace records

int main() {
  uint64_t total = 0;
  for (int i = 0; i < 1000; ++i) total += records::ParseRecord(10);
  records::KeepBuffers();
  std::thread holder(records::HoldLock);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  records::WaitForLock();
  holder.join();
  printf("ready %llu\n", static_cast<unsigned long long>(total));
  fflush(stdout);
  const char* env = getenv("RECORDS_SECONDS");
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(env ? atoi(env) : 0);
  while (std::chrono::steady_clock::now() < end) total += records::ParseRecord(100);
  return total == 0;
}
