// For the service's room tests: an in-process fake persistor that keeps
// the snapshots it is sent (or refuses them as told), answers GetStatus as
// told, and takes an Append stream without ever acking it; and a fixture
// with the real one (in-process, on a fresh database of a private MariaDB;
// link vitrage_persistor_testing).
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_TEST_UTIL_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/testing/mariadb_test.h"
#include "persistor_service/server/test_util.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::service::testing {

class FakePersistor final : public v1::Persistor::Service {
 public:
  struct Stored {
    v1::SnapshotHeader header;
    std::vector<v1::SnapshotChunk> chunks;
  };

  // Serves on 127.0.0.1:<free port> until destroyed.
  FakePersistor() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (server_ != nullptr) {
      channel_ =
          grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
    }
  }
  ~FakePersistor() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Null when the server did not start.
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  grpc::Status Append(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::AppendResponse, v1::AppendRequest>* stream) override {
    v1::AppendRequest req;
    while (stream->Read(&req)) {
    }
    return grpc::Status::OK;
  }

  grpc::Status PutSnapshot(grpc::ServerContext*, grpc::ServerReader<v1::PutSnapshotRequest>* reader,
                           v1::PutSnapshotResponse* resp) override {
    Stored s;
    v1::PutSnapshotRequest req;
    uint64_t bytes = 0;
    while (reader->Read(&req)) {
      if (req.has_header()) {
        s.header = req.header();
      } else {
        bytes += req.chunk().ByteSizeLong();
        s.chunks.push_back(req.chunk());
      }
    }
    absl::MutexLock l(&mu_);
    if (!refusal_.ok()) return refusal_;
    stored_.push_back(std::move(s));
    resp->set_snapshot_id(stored_.size());
    resp->set_stored_bytes(bytes);
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext*, const v1::PersistorStatusRequest*,
                         v1::PersistorStatus* st) override {
    absl::MutexLock l(&mu_);
    *st = status_;
    return grpc::Status::OK;
  }

  // PutSnapshot answers `refusal` from now on (OK: stores again).
  void RefuseSnapshots(grpc::Status refusal) {
    absl::MutexLock l(&mu_);
    refusal_ = std::move(refusal);
  }
  std::vector<Stored> stored() {
    absl::MutexLock l(&mu_);
    return stored_;
  }
  // GetStatus answers this from now on.
  void AnswerStatus(v1::PersistorStatus status) {
    absl::MutexLock l(&mu_);
    status_ = std::move(status);
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  absl::Mutex mu_;
  grpc::Status refusal_ ABSL_GUARDED_BY(mu_);
  std::vector<Stored> stored_ ABSL_GUARDED_BY(mu_);
  v1::PersistorStatus status_ ABSL_GUARDED_BY(mu_);
};

// persistor_ serves a fresh database named after the test; stub_ talks to
// it.
class PersistorTest : public vitrage::testing::MariaDbTest {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    auto url = persistor::testing::FreshDatabase(
        *db_, absl::StrCat("s_", info->test_suite_name(), "_", info->name()).substr(0, 60));
    ASSERT_TRUE(url.ok()) << url.status();
    persistor::PersistorOptions options;
    options.database.url = *url;
    auto p = persistor::testing::InProcessPersistor::Start(options);
    ASSERT_TRUE(p.ok()) << p.status();
    persistor_ = std::move(*p);
    stub_ = persistor_->NewStub();
  }

  std::unique_ptr<persistor::testing::InProcessPersistor> persistor_;
  std::unique_ptr<v1::Persistor::Stub> stub_;
};

}  // namespace vitrage::service::testing

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_TEST_UTIL_H_
