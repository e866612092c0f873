// Reads the log after a snapshot's seq on a thread of its own while the
// snapshot decodes (recovery starts it as soon as the snapshot's header
// arrives); the replay takes the responses in order. A read-ahead that
// fails or is stopped early costs nothing but itself: the replay reads
// whatever is left from where it got, and reports the store's errors from
// its own read. At most kMaxQueuedBytes wait here (then the stream waits),
// so a long tail is not held in memory twice.
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
  // `persistor` outlives this; ReadLog is asked for batches of
  // `batch_bytes`.
  LogPrefetch(v1::Persistor::Stub* persistor, uint32_t batch_bytes)
      : persistor_(persistor), batch_bytes_(batch_bytes) {}
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

 private:
  static constexpr size_t kMaxQueuedBytes = 64 << 20;
  static constexpr size_t kMaxSpare = 4;

  void Run();

  v1::Persistor::Stub* const persistor_;
  const uint32_t batch_bytes_;
  bool started_ = false;
  uint64_t after_seq_ = 0;
  std::thread thread_;
  grpc::ClientContext ctx_;
  absl::Mutex mu_;
  std::deque<std::pair<v1::ReadLogResponse, size_t>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ReadLogResponse> spare_ ABSL_GUARDED_BY(mu_);  // applied, for reuse
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_LOG_PREFETCH_H_
