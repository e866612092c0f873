#include "persistor_service/server/test_util.h"

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/grpc_util.h"
#include "common/status_macros.h"

namespace vitrage::persistor::testing {

absl::StatusOr<DatabaseUrl> FreshDatabase(vitrage::testing::MariaDbFixture& db,
                                          const std::string& name) {
  RETURN_IF_ERROR(
      db.Query(absl::StrCat("DROP DATABASE IF EXISTS `", name, "`; CREATE DATABASE `", name, "`"),
               /*use_database=*/false)
          .status());
  DatabaseUrl url;
  url.user = "root";
  url.host = "127.0.0.1";
  url.port = db.port();
  url.database = name;
  return url;
}

absl::StatusOr<std::unique_ptr<InProcessPersistor>> InProcessPersistor::Start(
    PersistorOptions options, const std::string& address) {
  auto p = std::unique_ptr<InProcessPersistor>(new InProcessPersistor());
  const int max_message_bytes = options.max_message_bytes;
  ASSIGN_OR_RETURN(p->service_, PersistorService::Create(std::move(options)));
  int port = 0;
  p->server_ = StartServer(address, {p->service_.get()}, &port, max_message_bytes);
  if (p->server_ == nullptr) return absl::InternalError("cannot start server");
  p->service_->AttachServer(p->server_.get());
  p->address_ = absl::StrCat("127.0.0.1:", port);
  return p;
}

InProcessPersistor::~InProcessPersistor() {
  if (service_ != nullptr) service_->BeginShutdown();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  if (service_ != nullptr) service_->Stop();
}

std::unique_ptr<vitrage::v1::Persistor::Stub> InProcessPersistor::NewStub() const {
  return vitrage::v1::Persistor::NewStub(MakeChannel(address_, ServerRole::kPersistor));
}

vitrage::v1::JournalRecord MakeRecord(uint64_t seq, uint64_t epoch, size_t payload_bytes) {
  vitrage::v1::JournalRecord r;
  r.set_seq(seq);
  r.set_epoch(epoch);
  r.set_source("collector:test");
  r.set_source_seq(seq);
  r.set_time_unix_micros(1700000000000000 + static_cast<int64_t>(seq));
  std::string kind(payload_bytes, 'x');
  for (size_t i = 0; i < kind.size(); ++i) {
    kind[i] = static_cast<char>('a' + (seq * 7 + i) % 26);
  }
  r.set_event_kind(kind);
  return r;
}

vitrage::v1::AppendRequest MakeBatch(uint64_t epoch, uint64_t first, uint64_t last,
                                     size_t payload_bytes) {
  vitrage::v1::AppendRequest req;
  req.set_epoch(epoch);
  for (uint64_t s = first; s <= last; ++s) {
    *req.add_records() = MakeRecord(s, epoch, payload_bytes);
  }
  return req;
}

AppendResult AppendBatches(vitrage::v1::Persistor::Stub* stub,
                           const std::vector<vitrage::v1::AppendRequest>& batches) {
  AppendResult result;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->Append(&ctx);
  for (const auto& b : batches) {
    if (!stream->Write(b)) break;
  }
  stream->WritesDone();
  vitrage::v1::AppendResponse resp;
  while (stream->Read(&resp)) result.acks.push_back(resp.durable_seq());
  result.status = stream->Finish();
  return result;
}

absl::StatusOr<vitrage::v1::AcquireEpochResponse> AcquireEpoch(vitrage::v1::Persistor::Stub* stub,
                                                               const std::string& owner) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  vitrage::v1::AcquireEpochRequest req;
  req.set_owner(owner);
  vitrage::v1::AcquireEpochResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub->AcquireEpoch(&ctx, req, &resp)));
  return resp;
}

absl::StatusOr<vitrage::v1::PersistorStatus> GetStatus(vitrage::v1::Persistor::Stub* stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  vitrage::v1::PersistorStatus resp;
  RETURN_IF_ERROR(
      FromGrpcStatus(stub->GetStatus(&ctx, vitrage::v1::PersistorStatusRequest(), &resp)));
  return resp;
}

absl::StatusOr<std::vector<vitrage::v1::JournalRecord>> ReadLog(vitrage::v1::Persistor::Stub* stub,
                                                                uint64_t after_seq,
                                                                uint32_t max_batch_bytes,
                                                                int* responses) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  vitrage::v1::ReadLogRequest req;
  req.set_after_seq(after_seq);
  req.set_max_batch_bytes(max_batch_bytes);
  auto reader = stub->ReadLog(&ctx, req);
  std::vector<vitrage::v1::JournalRecord> out;
  vitrage::v1::ReadLogResponse resp;
  int n = 0;
  while (reader->Read(&resp)) {
    ++n;
    for (auto& r : *resp.mutable_records()) out.push_back(std::move(r));
  }
  if (responses != nullptr) *responses = n;
  RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  return out;
}

TestSnapshot MakeSnapshot(uint64_t seq, uint64_t epoch, int chunks, size_t chunk_bytes,
                          uint32_t seed) {
  TestSnapshot s;
  s.header.set_format_version(1);
  s.header.set_seq(seq);
  s.header.set_epoch(epoch);
  s.header.set_vertex_count(10 * chunks);
  s.header.set_edge_count(20 * chunks);
  s.header.set_chunk_count(chunks);
  s.header.set_digest(absl::StrCat("digest-", seq, "-", seed));
  uint64_t total = 0;
  uint32_t x = seed * 2654435761u + 1;
  for (int i = 0; i < chunks; ++i) {
    vitrage::v1::SnapshotChunk c;
    c.set_index(i);
    std::string data(chunk_bytes, '\0');
    for (size_t j = 0; j < data.size(); ++j) {
      x = x * 1103515245u + 12345u;
      data[j] = static_cast<char>(x >> 16);
    }
    c.set_crc32c(crc32c::Value(data));
    c.set_uncompressed_size(2 * data.size());
    total += data.size();
    c.set_data(std::move(data));
    s.chunks.push_back(std::move(c));
  }
  s.header.set_compressed_bytes(total);
  s.header.set_uncompressed_bytes(2 * total);
  return s;
}

absl::StatusOr<vitrage::v1::PutSnapshotResponse> PutSnapshot(vitrage::v1::Persistor::Stub* stub,
                                                             const TestSnapshot& snapshot) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  vitrage::v1::PutSnapshotResponse resp;
  auto writer = stub->PutSnapshot(&ctx, &resp);
  vitrage::v1::PutSnapshotRequest req;
  *req.mutable_header() = snapshot.header;
  bool ok = writer->Write(req);
  for (const auto& c : snapshot.chunks) {
    if (!ok) break;
    *req.mutable_chunk() = c;
    ok = writer->Write(req);
  }
  writer->WritesDone();
  RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  return resp;
}

absl::StatusOr<FetchedSnapshot> GetLatestSnapshot(vitrage::v1::Persistor::Stub* stub,
                                                  uint64_t older_than_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  vitrage::v1::GetLatestSnapshotRequest req;
  req.set_older_than_id(older_than_id);
  auto reader = stub->GetLatestSnapshot(&ctx, req);
  FetchedSnapshot out;
  vitrage::v1::GetLatestSnapshotResponse resp;
  while (reader->Read(&resp)) {
    if (resp.has_info()) {
      out.info = resp.info();
    } else {
      out.chunks.push_back(std::move(*resp.mutable_chunk()));
    }
  }
  RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  return out;
}

}  // namespace vitrage::persistor::testing
