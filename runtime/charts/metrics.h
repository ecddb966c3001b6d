// The live metrics behind <ctx>/debug/charts/: one point a second (process CPU, RSS, heap in
// use, threads, instrumented calls per second, events dropped), ten minutes of history, and
// the top functions by CPU and the slowest calls (p99, timing mode) over the last 10 s. Viewers get
// each new point through a bounded queue: a viewer that stalls loses frames (counted), never delays
// the sampler.
//
// Thread-safety: everything here may be called from any thread.
#ifndef HOOKPROF_RUNTIME_CHARTS_METRICS_H_
#define HOOKPROF_RUNTIME_CHARTS_METRICS_H_

#include <stdint.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace hookprof {
namespace runtime {

inline constexpr int kMetricsHistoryPoints = 600;  // Ten minutes at one point a second.
inline constexpr size_t kViewerQueueFrames = 8;

// Starts the sampler thread once (later calls do nothing).
void StartMetrics();

// The history as JSON: column arrays (t, cpu_user, cpu_system, rss_mib, heap_mib (glibc's
// figure), heap_sampled_mib (the heap profile's in-use estimate; null while it is off),
// threads, calls_per_s, dropped_per_s), the current top 10 by CPU ("top"), the 10 functions
// with the slowest calls by p99 over the last 10 s ("slowest": timing mode) and the sampler's own
// cost.
std::string MetricsJson();

class MetricsViewer;

class MetricsViewer {
 public:
  // Waits up to `timeout_ms` for the next frame; false if none came.
  bool Pop(std::string* frame, int timeout_ms);
  uint64_t dropped() const;

 private:
  friend void PublishFrame(const std::string& frame);
  friend std::shared_ptr<MetricsViewer> SubscribeMetrics();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> frames_;
  uint64_t dropped_ = 0;
};

// A new viewer: its first frame is the whole history (MetricsJson), then one frame a second
// with the newest point. Unsubscribed when the last reference goes.
std::shared_ptr<MetricsViewer> SubscribeMetrics();

// Sends `frame` to every viewer (drops a viewer's oldest frame when its queue is full).
void PublishFrame(const std::string& frame);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_CHARTS_METRICS_H_
