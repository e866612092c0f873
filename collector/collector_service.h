// vitrage-collector's core: the datasources' model, the change generator
// thread, the outbox, and the Collector gRPC service (GetAll, GetStatus).
#ifndef VITRAGE_COLLECTOR_COLLECTOR_SERVICE_H_
#define VITRAGE_COLLECTOR_COLLECTOR_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "collector/model.h"
#include "collector/outbox.h"
#include "collector/upstream_events.h"
#include "graph_service/snapshot/snapshot.h"
#include "vitrage/v1/collector.grpc.pb.h"

namespace vitrage::collector {

struct CollectorOptions {
  OutboxOptions outbox;
  // Change events per second; 0: none; >= 1e6: as fast as the outbox takes.
  double change_rate = 0;
  // Stop generating after this many changes (0: never).
  uint64_t max_changes = 0;
  // Ops per pass-through event in GetAll.
  int ops_per_get_all_event = 64;
  // GetAll with accept_image: send the model's graph as an image
  // (workload / pass-through modes only). False: always events.
  bool get_all_image = true;
  // Upstream-shaped sources: seed of the reference graph's vertex ids.
  uint64_t reference_seed = 1;
};

class CollectorService final : public v1::Collector::Service {
 public:
  // Takes the initial state in `model`; pushes to `graph`.
  CollectorService(CollectorOptions options, std::unique_ptr<Model> model,
                   std::shared_ptr<grpc::Channel> graph);
  // A source of upstream-shaped events (static YAML, synthetic OpenStack
  // cloud) instead of the workload model: GetAll sends its get_all events,
  // the generator its notifications, and GetStatus describes the reference
  // graph (collector/upstream_events.h): entities and relationships of the
  // graph the graph's processor builds from the events sent (from the last
  // init_snapshot GetAll on), model_digest its CanonicalDigest.
  CollectorService(CollectorOptions options, std::unique_ptr<UpstreamSource> source,
                   std::shared_ptr<grpc::Channel> graph);
  ~CollectorService() override;

  // Starts the change generator (if change_rate > 0).
  void Start();
  // Stops the generator and the outbox.
  void Shutdown();
  // Stops the change generator for good (the operator's SIGUSR1) after the
  // change it is making, if any; the outbox keeps pushing what is queued.
  // GetStatus says generating = false once it has stopped.
  void StopGenerator();

  grpc::Status GetAll(grpc::ServerContext* ctx, const v1::GetAllRequest* req,
                      grpc::ServerWriter<v1::GetAllResponse>* writer) override;
  grpc::Status GetStatus(grpc::ServerContext* ctx, const v1::CollectorStatusRequest* req,
                         v1::CollectorStatus* resp) override;

  Outbox& outbox() { return outbox_; }

  // Pushes every event of a workload event tail file (in order, as fast as
  // the outbox takes them) from a background thread.
  absl::Status StartTail(const std::string& path);

  // Generates one change now (tests, and the generator thread). Returns its
  // source_seq (the last one when the change is several events), 0 when
  // shut down or when the source makes no changes.
  uint64_t GenerateChange();

  // Upstream-shaped sources: the canonical digest of the reference graph
  // ("" in workload mode).
  std::string ReferenceDigest();

  // Re-reads the datasource's file (static YAML; the operator's SIGHUP) and
  // queues the events of what changed, as one change. Returns how many
  // events were queued; FAILED_PRECONDITION for sources without a file, or
  // the file's error (nothing queued, the previous state stays).
  absl::StatusOr<size_t> Reload();

 private:
  void RunGenerator();
  // Upstream mode: the GetAll stream and one change.
  grpc::Status GetAllUpstream(grpc::ServerContext* ctx, const std::string& action, uint32_t batch,
                              grpc::ServerWriter<v1::GetAllResponse>* writer);
  uint64_t GenerateUpstreamChange();
  // Queues `ops` as one pass-through "update" event sampled at `now`.
  uint64_t QueueOpsLocked(const std::vector<processor::PassthroughOp>& ops, const std::string& now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // GetAll with accept_image, outside upstream mode: the model's graph as
  // snapshot-codec chunks.
  grpc::Status GetAllImage(grpc::ServerContext* ctx, const std::string& action,
                           grpc::ServerWriter<v1::GetAllResponse>* writer);
  // The image of the current model, encoded once per model state: the
  // cache is valid while no change was made (the outbox's last seq and the
  // change counter are those it was encoded at).
  absl::StatusOr<std::shared_ptr<const snapshot::EncodedSnapshot>> ImageLocked(uint64_t* covered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const CollectorOptions options_;
  absl::Mutex mu_;  // model_ and the seq it reflects
  std::unique_ptr<Model> model_ ABSL_GUARDED_BY(mu_);
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  bool upstream_mode_ = false;  // set by the constructor
  std::unique_ptr<UpstreamSource> upstream_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ReferenceGraph> reference_ ABSL_GUARDED_BY(mu_);
  Outbox outbox_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> generator_stop_{false};
  std::atomic<bool> generating_{false};
  std::thread generator_;
  std::thread warm_image_;  // encodes the first image at Start()
  struct CachedImage {
    uint64_t covered = 0;
    uint64_t changes = 0;
    std::shared_ptr<const snapshot::EncodedSnapshot> image;
  };
  CachedImage image_cache_ ABSL_GUARDED_BY(mu_);
  std::thread tail_;
};

// "%Y-%m-%dT%H:%M:%SZ" of now (UTC).
std::string SampleDateNow();

}  // namespace vitrage::collector

#endif  // VITRAGE_COLLECTOR_COLLECTOR_SERVICE_H_
