// Helpers for the persistor tests and benchmark: a shared private MariaDB,
// a fresh database per test, an in-process persistor, and small clients.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_TEST_UTIL_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/testing/mariadb_fixture.h"
#include "persistor_service/server/persistor_service.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::persistor::testing {

// Creates database `name` on `db` and returns its URL.
absl::StatusOr<DatabaseUrl> FreshDatabase(vitrage::testing::MariaDbFixture& db,
                                          const std::string& name);

// A PersistorService + grpc::Server on 127.0.0.1:<free port>.
class InProcessPersistor {
 public:
  // `address` "127.0.0.1:0" picks a free port.
  static absl::StatusOr<std::unique_ptr<InProcessPersistor>> Start(
      PersistorOptions options, const std::string& address = "127.0.0.1:0");
  ~InProcessPersistor();
  const std::string& address() const { return address_; }
  PersistorService* service() { return service_.get(); }
  std::unique_ptr<vitrage::v1::Persistor::Stub> NewStub() const;

 private:
  std::unique_ptr<PersistorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// A record with `payload_bytes` of deterministic filler in event_kind and a
// small delta.
vitrage::v1::JournalRecord MakeRecord(uint64_t seq, uint64_t epoch, size_t payload_bytes = 100);

struct AppendResult {
  std::vector<uint64_t> acks;  // durable_seq of each response
  grpc::Status status;
};
// Opens one Append stream, sends the batches, half-closes, reads every
// response and the status.
AppendResult AppendBatches(vitrage::v1::Persistor::Stub* stub,
                           const std::vector<vitrage::v1::AppendRequest>& batches);
// One batch with records first..last.
vitrage::v1::AppendRequest MakeBatch(uint64_t epoch, uint64_t first, uint64_t last,
                                     size_t payload_bytes = 100);

absl::StatusOr<vitrage::v1::AcquireEpochResponse> AcquireEpoch(vitrage::v1::Persistor::Stub* stub,
                                                               const std::string& owner);
absl::StatusOr<vitrage::v1::PersistorStatus> GetStatus(vitrage::v1::Persistor::Stub* stub);
// Every record after `after_seq` (and the responses' count).
absl::StatusOr<std::vector<vitrage::v1::JournalRecord>> ReadLog(vitrage::v1::Persistor::Stub* stub,
                                                                uint64_t after_seq,
                                                                uint32_t max_batch_bytes = 0,
                                                                int* responses = nullptr);

// A snapshot to send: header + chunks with correct CRCs.
struct TestSnapshot {
  vitrage::v1::SnapshotHeader header;
  std::vector<vitrage::v1::SnapshotChunk> chunks;
};
TestSnapshot MakeSnapshot(uint64_t seq, uint64_t epoch, int chunks, size_t chunk_bytes,
                          uint32_t seed = 1);
absl::StatusOr<vitrage::v1::PutSnapshotResponse> PutSnapshot(vitrage::v1::Persistor::Stub* stub,
                                                             const TestSnapshot& snapshot);
struct FetchedSnapshot {
  vitrage::v1::StoredSnapshotInfo info;
  std::vector<vitrage::v1::SnapshotChunk> chunks;
};
absl::StatusOr<FetchedSnapshot> GetLatestSnapshot(vitrage::v1::Persistor::Stub* stub,
                                                  uint64_t older_than_id = 0);

}  // namespace vitrage::persistor::testing

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_TEST_UTIL_H_
