// Process-level metrics for Prometheus: the recording mode, threads, call paths, CPU samples,
// every loss counter the recorders keep (the index page's list), and the sampled heap.
//
// Thread-safety: any thread.
#ifndef HOOKPROF_RUNTIME_PROMETHEUS_RECORDER_METRICS_H_
#define HOOKPROF_RUNTIME_PROMETHEUS_RECORDER_METRICS_H_

#include "runtime/prometheus/exposition.h"

namespace hookprof {
namespace runtime {

void WriteRecorderMetrics(Exposition* out);

}  // namespace runtime
}  // namespace hookprof

#endif  // HOOKPROF_RUNTIME_PROMETHEUS_RECORDER_METRICS_H_
