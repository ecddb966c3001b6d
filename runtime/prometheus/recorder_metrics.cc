#include "runtime/prometheus/recorder_metrics.h"

#include "instrument/samplers/contention.h"
#include "instrument/samplers/heap_sampler.h"
#include "instrument/state/thread_state.h"
#include "runtime/core/snapshot.h"
#include "runtime/trace/trace.h"

namespace hookprof {
namespace runtime {

void WriteRecorderMetrics(Exposition* out) {
  const Snapshot snap = Snapshot::Take();
  uint64_t live = 0, paths = 0, samples = 0, ring_failures = 0;
  ThreadCounters total;
  for (const ThreadSnapshot& t : snap.threads) {
    live += t.alive ? 1 : 0;
    paths += t.calls.size();
    for (uint64_t n : t.samples) samples += n;
    total.Add(t.counters);
    ring_failures += instrument::LoadRelaxed(t.state->ring_failures);
  }

  out->Gauge("hookprof_mode", "The recording mode: 1 for the one in force.");
  const instrument::Mode mode = instrument::GetMode();
  for (instrument::Mode m : {instrument::kModeOff, instrument::kModeProfile,
                             instrument::kModeTiming, instrument::kModeTrace}) {
    out->Add({{"mode", instrument::ModeName(m)}}, m == mode ? 1 : 0);
  }
  out->Gauge("hookprof_threads", "Threads recorded, by whether they still run.");
  out->Add({{"state", "live"}}, static_cast<double>(live));
  out->Add({{"state", "exited"}}, static_cast<double>(snap.threads.size() - live));
  out->Gauge("hookprof_call_paths", "Call-path nodes recorded, all threads.");
  out->Add({}, static_cast<double>(paths));
  out->Counter("hookprof_cpu_samples",
               "CPU samples taken, on recorded threads and on threads hookprof does not record.");
  out->Add({{"thread", "recorded"}}, static_cast<double>(samples));
  out->Add({{"thread", "unrecorded"}}, static_cast<double>(snap.unattributed_samples));

  out->Counter("hookprof_recorder_events",
               "What the recorders could not record as asked, by event: every counter of the "
               "index page (docs/metrics.md says what each means).");
#define HOOKPROF_THREAD_COUNTER(field, loss, label, comment) \
  out->Add({{"event", #field}}, static_cast<double>(total.field));
#include "instrument/state/thread_counters.inc"
#undef HOOKPROF_THREAD_COUNTER
  out->Add({{"event", "trace_ring_failures"}}, static_cast<double>(ring_failures));
  const TraceLossTotals trace = TraceLosses();
  out->Add({{"event", "trace_events_lost"}}, static_cast<double>(trace.lost_events));
  out->Add({{"event", "trace_slices_dropped"}}, static_cast<double>(trace.dropped_slices));
  out->Add({{"event", "heap_samples_dropped"}},
           static_cast<double>(instrument::HeapDroppedSamples()));
  out->Add({{"event", "mutex_samples_dropped"}},
           static_cast<double>(instrument::ContentionDropped(instrument::Contention::kMutex)));
  out->Add({{"event", "block_samples_dropped"}},
           static_cast<double>(instrument::ContentionDropped(instrument::Contention::kBlock)));

  if (instrument::HeapSamplerActive()) {
    double bytes = 0, objects = 0;
    for (const instrument::HeapBucket& b : instrument::HeapBuckets()) {
      bytes += b.inuse_bytes;
      objects += b.inuse_objects;
    }
    out->Gauge("hookprof_heap_inuse_bytes",
               "Heap in use, estimated from the heap profile's samples.");
    out->Add({}, bytes);
    out->Gauge("hookprof_heap_inuse_objects",
               "Heap objects in use, estimated from the heap profile's samples.");
    out->Add({}, objects);
  }
}

}  // namespace runtime
}  // namespace hookprof
