// Engine recovery at start-up (DESIGN.md section 6): AcquireEpoch, the
// newest valid snapshot, the log after it, then get_all when needed. Moved
// out of engine.cc; RunGetAll lives in engine_get_all.cc.
#include <glog/logging.h>

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/status_macros.h"
#include "common/tls.h"
#include "graph_service/graph/digest.h"
#include "graph_service/graph/proto_convert.h"
#include "graph_service/service/engine.h"
#include "graph_service/service/log_prefetch.h"
#include "graph_service/snapshot/snapshot.h"

namespace vitrage::service {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

bool IsTransient(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::Status Engine::Recover() {
  if (!options_.persistency) {
    LOG(INFO) << "persistency is disabled: starting from an empty graph and get_all";
    {
      absl::MutexLock l(&status_mu_);
      readable_ = true;
    }
    return RunGetAll("persistency disabled");
  }

  // The epoch is taken while the snapshot loads, and the log after the
  // snapshot is read (LogPrefetch) while its chunks decode: the three reads
  // overlap instead of adding up. Reading before holding the epoch is safe:
  // a published snapshot and the durable log records never change, and the
  // replay runs to the durable seq AcquireEpoch returns, after which an older
  // graph can append nothing. (What an older graph could still do before it
  // is fenced is publish two more snapshots and have the persistor prune the
  // log before this snapshot's seq, which takes records older than
  // [persistency] log_retention: the replay then reports DATA_LOSS and the
  // graph starts over from get_all, as for any unusable store.)
  SetPhase(v1::RECOVERING, "acquiring epoch, loading snapshot");
  const absl::Time t_start = absl::Now();
  v1::AcquireEpochResponse ep;
  absl::Status epoch_status;
  absl::Time t_epoch;
  std::thread epoch_thread([&] {
    epoch_status = AcquireEpoch(&ep);
    t_epoch = absl::Now();
  });
  LogPrefetch prefetch(persistor_.get(), kReadLogBatchBytes);
  uint64_t snapshot_id = 0;
  v1::SnapshotHeader header;
  absl::Status loaded = LoadSnapshot(&snapshot_id, &header, &prefetch);
  const absl::Time t_loaded = absl::Now();
  epoch_thread.join();
  RETURN_IF_ERROR(epoch_status);
  {
    absl::MutexLock l(&status_mu_);
    epoch_ = ep.epoch();
    timings_.set_acquire_epoch_ms(Ms(t_epoch - t_start));
  }
  LOG(INFO) << "recovery: began " << Ms(t_start - process_start_)
            << " ms after the engine was made; epoch " << ep.epoch() << " acquired (previous "
            << ep.previous_epoch() << "), durable seq " << ep.durable_seq() << ", "
            << Ms(t_epoch - t_start) << " ms";
  if (!loaded.ok() && !absl::IsNotFound(loaded)) return loaded;
  bool have_snapshot = loaded.ok();
  {
    absl::MutexLock l(&status_mu_);
    timings_.set_snapshot_id(snapshot_id);
    timings_.set_snapshot_seq(have_snapshot ? header.seq() : 0);
    timings_.set_snapshot_load_ms(Ms(t_loaded - t_start));
  }
  if (have_snapshot) {
    LOG(INFO) << "recovery: snapshot " << snapshot_id << " (seq " << header.seq() << ", "
              << header.vertex_count() << " vertices, " << header.edge_count() << " edges, "
              << header.compressed_bytes() << " bytes) loaded in " << Ms(t_loaded - t_start)
              << " ms";
  } else {
    LOG(INFO) << "recovery: the store has no complete snapshot";
  }

  if (have_snapshot && header.seq() > ep.durable_seq()) {
    // A snapshot is stored only once its seq is durable: one past the
    // durable seq holds changes no epoch made durable. Start over.
    LOG(ERROR) << "recovery: snapshot " << snapshot_id << " is at seq " << header.seq()
               << ", beyond the durable seq " << ep.durable_seq()
               << " the epoch returned; it is not used";
    absl::MutexLock l(&mu_);
    graph_.Clear();
    marks_.clear();
    bus_marks_.clear();
    applied_seq_ = 0;
    evaluator_needs_full_pass_ = true;
    have_snapshot = false;
  }
  uint64_t base = have_snapshot ? header.seq() : 0;
  SetPhase(v1::RECOVERING, absl::StrCat("replaying log after seq ", base));
  absl::Time t = absl::Now();
  int64_t last_time = have_snapshot ? header.seq_time_unix_micros() : 0;
  std::string get_all_reason;
  bool reset = false;
  absl::Status replayed = Replay(base, ep.durable_seq(), &last_time, &prefetch);
  if (!replayed.ok()) {
    if (!absl::IsDataLoss(replayed)) return replayed;
    LOG(ERROR) << "recovery: cannot rebuild the graph from the store: " << replayed.message()
               << "; starting over from get_all";
    get_all_reason = absl::StrCat("store unusable: ", replayed.message());
    reset = true;
    absl::MutexLock l(&mu_);
    graph_.Clear();
    marks_.clear();
    bus_marks_.clear();
    applied_seq_ = ep.durable_seq();
  }
  if (get_all_reason.empty()) {
    absl::MutexLock l(&mu_);
    if (DropPartialImageLocked()) {
      LOG(WARNING) << "recovery: the log ends inside a get_all image (the graph died while "
                      "journaling it, before intake opened); taking get_all again";
      get_all_reason = "the previous get_all did not finish";
    }
  }
  uint64_t replayed_records;
  {
    absl::MutexLock l(&mu_);
    replayed_records = applied_seq_ - base;
    if (reset) replayed_records = 0;
  }
  {
    absl::MutexLock l(&status_mu_);
    timings_.set_replay_ms(Ms(absl::Now() - t));
    timings_.set_records_replayed(replayed_records);
    // The graph keeps its indexes (natural key, adjacency) current as it is
    // built; the per-source marks were rebuilt during replay.
    timings_.set_index_rebuild_ms(0);
    readable_ = true;
  }
  LOG(INFO) << "recovery: replayed " << replayed_records << " records in " << Ms(absl::Now() - t)
            << " ms; graph at seq " << ep.durable_seq();

  if (get_all_reason.empty()) {
    if (!have_snapshot && ep.durable_seq() == 0) {
      get_all_reason = "fresh start: the store is empty";
    } else if (last_time > 0) {
      absl::Duration down = absl::Now() - absl::FromUnixMicros(last_time);
      if (down > options_.get_all_after_downtime) {
        get_all_reason = absl::StrCat("downtime ", absl::FormatDuration(down), " exceeds ",
                                      absl::FormatDuration(options_.get_all_after_downtime));
      }
    }
  }

  auto journal = std::make_unique<journal::JournalClient>(persistor_channel_, options_.journal,
                                                          ep.epoch(), ep.durable_seq());
  journal->SetOnFatal([this](const absl::Status& s) { Fatal(s); });
  {
    // Status() and the metrics refresher read journal_ from other threads,
    // and Shutdown() (signal thread) may run concurrently: publish it under
    // status_mu_, and never after Shutdown() has looked at it.
    absl::MutexLock l(&status_mu_);
    if (shutdown_) return absl::CancelledError("shut down during recovery");
    journal_ = std::move(journal);
  }
  RETURN_IF_ERROR(StartSnapshotter());

  if (!get_all_reason.empty()) {
    if (reset) {
      absl::MutexLock l(&mu_);
      v1::JournalRecord rec;
      rec.set_reset(true);
      rec.set_event_kind("reset before get_all");
      CommitRecordLocked(std::move(rec));
    }
    RETURN_IF_ERROR(RunGetAll(get_all_reason));
  }
  return absl::OkStatus();
}

absl::Status Engine::AcquireEpoch(v1::AcquireEpochResponse* resp) {
  absl::Duration backoff = absl::Milliseconds(50);
  int failures = 0;
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      if (shutdown_) return absl::CancelledError("shut down while acquiring epoch");
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::AcquireEpochRequest req;
    req.set_owner(options_.owner);
    grpc::Status st = persistor_->AcquireEpoch(&ctx, req, resp);
    if (st.ok()) return absl::OkStatus();
    if (!IsTransient(st)) return FromGrpcStatus(st);
    // A server refused by the TLS role check shows only as UNAVAILABLE.
    std::string refused = LastServerRefusal(options_.persistor_address);
    if (!refused.empty()) refused = absl::StrCat("; ", refused);
    if (failures++ % 20 == 0) {
      LOG(WARNING) << "recovery: persistor at " << options_.persistor_address
                   << " not answering AcquireEpoch (" << st.error_message() << refused
                   << "); staying RECOVERING and retrying (never starting empty)";
    }
    SetPhase(v1::RECOVERING, absl::StrCat("acquiring epoch: persistor unreachable (",
                                          st.error_message(), refused, ")"));
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::Status Engine::LoadSnapshot(uint64_t* snapshot_id, v1::SnapshotHeader* header,
                                  LogPrefetch* prefetch) {
  uint64_t older_than = 0;
  uint32_t skipped = 0;
  int failures = 0;
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    {
      absl::MutexLock l(&status_mu_);
      if (shutdown_) return absl::CancelledError("shut down while loading snapshot");
    }
    const absl::Time t_call = absl::Now();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    v1::GetLatestSnapshotRequest req;
    req.set_older_than_id(older_than);
    auto reader = persistor_->GetLatestSnapshot(&ctx, req);
    v1::GetLatestSnapshotResponse resp;
    snapshot::DecodeOptions decode_options;
    decode_options.verify_digest = options_.verify_snapshot_digest;
    decode_options.max_vertices = options_.max_graph_vertices;
    decode_options.max_edges = options_.max_graph_edges;
    snapshot::SnapshotDecoder decoder(decode_options);
    absl::Status decode_error;
    uint64_t id = 0;
    bool have_info = false;
    // Where the load time goes (logged once loaded): opening the call (the
    // connection to the persistor, on a fresh channel), waiting for the header
    // (the persistor's database read), the chunks' arrival (decoded as they
    // come), the last chunk's decoding and the final checks.
    const absl::Time t0 = absl::Now();
    absl::Time t_header = t0;
    absl::Duration in_decoder;
    while (reader->Read(&resp)) {
      if (!decode_error.ok()) continue;
      const absl::Time t = absl::Now();
      if (resp.has_info()) {
        t_header = t;
        id = resp.info().snapshot_id();
        have_info = true;
        if (prefetch != nullptr) prefetch->Start(resp.info().header().seq());
        decode_error = decoder.Begin(resp.info().header());
      } else if (!have_info) {
        decode_error = absl::DataLossError("snapshot stream began without its header");
      } else {
        decode_error = decoder.AddChunk(resp.chunk());
      }
      in_decoder += absl::Now() - t;
      if (!decode_error.ok()) ctx.TryCancel();
    }
    grpc::Status st = reader->Finish();
    const absl::Time t_stream = absl::Now();
    if (decode_error.ok() && st.ok()) decode_error = decoder.Finish();
    if (decode_error.ok() && st.ok()) {
      const absl::Time t_done = absl::Now();
      LOG(INFO) << "recovery: snapshot " << id << ": call open after " << Ms(t0 - t_call)
                << " ms, header after " << Ms(t_header - t0) << " ms, stream done after "
                << Ms(t_stream - t0) << " ms (" << Ms(in_decoder)
                << " ms of it decoding), last chunk and final checks " << Ms(t_done - t_stream)
                << " ms";
      graph::Graph g = decoder.TakeGraph();
      snapshot::SnapshotSections sections = decoder.TakeSections();
      *header = decoder.header();
      *snapshot_id = id;
      absl::MutexLock l(&mu_);
      graph_ = std::move(g);
      marks_.clear();
      bus_marks_.clear();
      for (const auto& m : sections.source_marks) {
        marks_[m.source()] = m.source_seq();
        if (absl::StartsWith(m.source(), kBusSourcePrefix)) {
          bus_marks_.emplace_back(header->seq(), m.source());
        }
      }
      NoteSnapshotEvaluatorStateLocked(sections.evaluator_state);
      applied_seq_ = header->seq();
      last_record_time_ = header->seq_time_unix_micros();
      absl::MutexLock sl(&status_mu_);
      timings_.set_snapshots_skipped(skipped);
      return absl::OkStatus();
    }
    if (decode_error.ok() && st.error_code() == grpc::StatusCode::NOT_FOUND) {
      absl::MutexLock l(&status_mu_);
      timings_.set_snapshots_skipped(skipped);
      return absl::NotFoundError(st.error_message());
    }
    if (!decode_error.ok() || st.error_code() == grpc::StatusCode::DATA_LOSS) {
      std::string why =
          !decode_error.ok() ? std::string(decode_error.message()) : st.error_message();
      LOG(ERROR) << "recovery: snapshot " << id << " failed verification (" << why
                 << "); falling back to the snapshot before it";
      ++skipped;
      if (id == 0) return absl::DataLossError(why);
      older_than = id;
      continue;
    }
    if (!IsTransient(st)) return FromGrpcStatus(st);
    if (failures++ % 20 == 0) {
      LOG(WARNING) << "recovery: could not read the snapshot (" << st.error_message()
                   << "); retrying (this is not the same as having none)";
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::Status Engine::Replay(uint64_t after_seq, uint64_t durable_seq, int64_t* last_time,
                            LogPrefetch* prefetch) {
  absl::Duration backoff = absl::Milliseconds(50);
  const uint64_t base = after_seq;
  auto apply = [&](const v1::ReadLogResponse& resp) -> absl::Status {
    absl::MutexLock l(&mu_);
    graph::VertexLookahead ahead(&graph_);
    const int n = resp.records_size();
    for (int i = 0; i < n; ++i) {
      ahead.Before(i, n, [&](int j) {
        return graph::VertexLookahead::FirstVertexId(resp.records(j).delta());
      });
      const v1::JournalRecord& rec = resp.records(i);
      if (rec.seq() <= applied_seq_) continue;  // overlap after a retry
      // Records after the durable seq AcquireEpoch returned were never made
      // durable by any epoch (the store drops them when it hands out the
      // epoch; a read that began before may still show them): never apply
      // them, the journal continues at durable_seq + 1.
      if (rec.seq() > durable_seq) break;
      if (rec.seq() != applied_seq_ + 1) {
        return absl::DataLossError(
            applied_seq_ == base ? absl::StrCat("the log does not reach back to seq ", base + 1,
                                                " (first record is ", rec.seq(), ")")
                                 : absl::StrCat("gap in the log: expected seq ", applied_seq_ + 1,
                                                ", got ", rec.seq()));
      }
      RETURN_IF_ERROR(ApplyLogRecordLocked(rec));
      *last_time = rec.time_unix_micros();
    }
    return absl::OkStatus();
  };
  if (prefetch != nullptr && prefetch->Reads(after_seq)) {
    v1::ReadLogResponse resp;
    absl::Status error;
    while (error.ok() && prefetch->Next(&resp)) error = apply(resp);
    prefetch->Stop();
    RETURN_IF_ERROR(error);
  }
  while (true) {
    uint64_t applied;
    {
      absl::MutexLock l(&mu_);
      applied = applied_seq_;
    }
    if (applied >= durable_seq) break;
    {
      absl::MutexLock l(&status_mu_);
      if (shutdown_) return absl::CancelledError("shut down while replaying");
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(300)));
    v1::ReadLogRequest req;
    req.set_after_seq(applied);
    req.set_max_batch_bytes(kReadLogBatchBytes);
    auto reader = persistor_->ReadLog(&ctx, req);
    v1::ReadLogResponse resp;
    absl::Status error;
    while (error.ok() && reader->Read(&resp)) error = apply(resp);
    if (!error.ok()) {
      ctx.TryCancel();
      reader->Finish();
      return error;
    }
    grpc::Status st = reader->Finish();
    if (st.ok()) {
      absl::MutexLock l(&mu_);
      if (applied_seq_ < durable_seq) {
        return absl::DataLossError(absl::StrCat("the log ends at seq ", applied_seq_,
                                                " but the durable seq is ", durable_seq));
      }
      break;
    }
    if (st.error_code() == grpc::StatusCode::DATA_LOSS ||
        st.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      // A corrupt record, or a tail already pruned (after falling back to an
      // older snapshot): the store cannot rebuild this graph.
      return absl::DataLossError(st.error_message());
    }
    if (!IsTransient(st)) return FromGrpcStatus(st);
    LOG(WARNING) << "recovery: ReadLog failed (" << st.error_message() << "); resuming from seq "
                 << applied;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
  return absl::OkStatus();
}

absl::Status Engine::ApplyLogRecordLocked(const v1::JournalRecord& rec) {
  if (rec.reset()) {
    graph_.Clear();
    marks_.clear();
    bus_marks_.clear();
  }
  const uint64_t overflows = graph::KeyTableOverflows();
  absl::Status s =
      rec.has_image_chunk() ? ApplyImageRecordLocked(rec) : graph_.ApplyDelta(rec.delta());
  if (s.ok() && graph::KeyTableOverflows() != overflows) {
    // A key the record names has no id: the graph cannot hold the record
    // as it was written. Stop instead of going on with a wrong graph.
    return absl::ResourceExhaustedError(
        absl::StrCat("record ", rec.seq(), " does not apply: the property key table is full (",
                     graph::KeyCount(), " distinct keys, capacity ", graph::kKeyTableCapacity,
                     "); the log holds more distinct keys than one process can"));
  }
  if (!s.ok()) {
    return absl::DataLossError(
        absl::StrCat("record ", rec.seq(), " does not apply: ", s.message()));
  }
  applied_seq_ = rec.seq();
  if (!rec.source().empty()) NoteMarkLocked(rec.source(), rec.source_seq());
  last_record_time_ = rec.time_unix_micros();
  NoteReplayedLocked(rec);
  return absl::OkStatus();
}

}  // namespace vitrage::service
