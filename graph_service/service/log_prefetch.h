// Reads the log after a snapshot's seq on a thread of its own while the
// snapshot decodes (recovery starts it as soon as the snapshot's header
// arrives); the replay takes the responses in order. A read-ahead that
// fails or is stopped early costs nothing but itself: the replay reads
// whatever is left from where it got, and reports the store's errors from
// its own read. At most about `max_queued_bytes` of responses (their wire
// size) wait here, then the stream waits for the replay: parsed, a record
// takes about 3.5 times its wire size, and at 1M vertices a 64 MiB queue
// was ~100 MiB of the process's peak (docs/performance.md, "Scale tiers").
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_LOG_PREFETCH_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_LOG_PREFETCH_H_

#include <cstdint>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::service {

class LogPrefetch {
 public:
  // What waits for the replay by default: a 10,000-record tail of the
  // benchmarks (~2.8 MiB) is read ahead whole while the snapshot decodes;
  // most of a 100,000-record one (~28 MiB) is read during the replay.
  static constexpr size_t kMaxQueuedBytes = 8 << 20;

  // `persistor` outlives this; ReadLog is asked for batches of
  // `batch_bytes`.
  LogPrefetch(v1::Persistor::Stub* persistor, uint32_t batch_bytes,
              size_t max_queued_bytes = kMaxQueuedBytes)
      : persistor_(persistor), batch_bytes_(batch_bytes), max_queued_bytes_(max_queued_bytes) {}
  ~LogPrefetch() { Stop(); }
  LogPrefetch(const LogPrefetch&) = delete;
  LogPrefetch& operator=(const LogPrefetch&) = delete;

  // Starts reading the records after `after_seq`. Only the first call does
  // anything.
  void Start(uint64_t after_seq);
  // Whether it reads the records after `seq`.
  bool Reads(uint64_t seq) const { return started_ && after_seq_ == seq; }
  // The next response, waiting for it; false at the end of the stream.
  bool Next(v1::ReadLogResponse* out);
  // Cancels the stream and waits for the thread.
  void Stop();
  // The most bytes (wire size) that waited here at once.
  size_t max_queued_seen() const {
    absl::MutexLock l(&mu_);
    return max_queued_seen_;
  }

 private:
  static constexpr size_t kMaxSpare = 4;

  void Run();

  v1::Persistor::Stub* const persistor_;
  const uint32_t batch_bytes_;
  const size_t max_queued_bytes_;
  bool started_ = false;
  uint64_t after_seq_ = 0;
  std::thread thread_;
  grpc::ClientContext ctx_;
  mutable absl::Mutex mu_;
  std::deque<std::pair<v1::ReadLogResponse, size_t>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ReadLogResponse> spare_ ABSL_GUARDED_BY(mu_);  // applied, for reuse
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_queued_seen_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_LOG_PREFETCH_H_
