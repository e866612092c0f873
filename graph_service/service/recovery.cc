#include "graph_service/service/recovery.h"

#include <glog/logging.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/huge_page_heap.h"
#include "common/status_macros.h"
#include "common/tls.h"
#include "graph_service/graph/key_budget.h"
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

Recovery::Recovery(RecoveryOptions options, v1::Persistor::Stub* persistor, GraphState* state,
                   GetAll* images, EvaluatorGlue* evaluator, Hooks hooks)
    : options_(std::move(options)),
      persistor_(persistor),
      state_(state),
      images_(images),
      evaluator_(evaluator),
      hooks_(std::move(hooks)) {}

absl::StatusOr<Recovery::Outcome> Recovery::Run(absl::Time began) {
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
  hooks_.phase("acquiring epoch, loading snapshot");
  const absl::Time t_start = absl::Now();
  Outcome out;
  v1::AcquireEpochResponse& ep = out.epoch;
  absl::Status epoch_status;
  absl::Time t_epoch;
  std::thread epoch_thread([&] {
    epoch_status = AcquireEpoch(&ep);
    t_epoch = absl::Now();
  });
  LogPrefetch prefetch(persistor_, kReadLogBatchBytes);
  uint64_t snapshot_id = 0;
  v1::SnapshotHeader header;
  uint32_t skipped = 0;
  absl::Status loaded = LoadSnapshot(&snapshot_id, &header, &prefetch, &skipped);
  const absl::Time t_loaded = absl::Now();
  epoch_thread.join();
  RETURN_IF_ERROR(epoch_status);
  hooks_.epoch(ep.epoch());
  hooks_.timings([&](v1::RecoveryTimings* t) {
    t->set_acquire_epoch_ms(Ms(t_epoch - t_start));
    t->set_snapshots_skipped(skipped);
  });
  LOG(INFO) << "recovery: began " << Ms(t_start - began) << " ms after the engine was made; epoch "
            << ep.epoch() << " acquired (previous " << ep.previous_epoch() << "), durable seq "
            << ep.durable_seq() << ", " << Ms(t_epoch - t_start) << " ms";
  if (!loaded.ok() && !absl::IsNotFound(loaded)) return loaded;
  bool have_snapshot = loaded.ok();
  hooks_.timings([&](v1::RecoveryTimings* t) {
    t->set_snapshot_id(snapshot_id);
    t->set_snapshot_seq(have_snapshot ? header.seq() : 0);
    t->set_snapshot_load_ms(Ms(t_loaded - t_start));
  });
  if (have_snapshot) {
    LOG(INFO) << "recovery: snapshot " << snapshot_id << " (seq " << header.seq() << ", "
              << header.vertex_count() << " vertices, " << header.edge_count() << " edges, "
              << header.compressed_bytes() << " bytes) loaded in " << Ms(t_loaded - t_start)
              << " ms; " << HeapSummary();
  } else {
    LOG(INFO) << "recovery: the store has no complete snapshot";
  }

  if (have_snapshot && header.seq() > ep.durable_seq()) {
    // A snapshot is stored only once its seq is durable: one past the
    // durable seq holds changes no epoch made durable. Start over.
    LOG(ERROR) << "recovery: snapshot " << snapshot_id << " is at seq " << header.seq()
               << ", beyond the durable seq " << ep.durable_seq()
               << " the epoch returned; it is not used";
    absl::MutexLock l(&state_->mu);
    state_->ClearLocked(0);
    evaluator_->NeedFullPass();
    have_snapshot = false;
  }
  uint64_t base = have_snapshot ? header.seq() : 0;
  if (have_snapshot && hooks_.snapshot_loaded) hooks_.snapshot_loaded(snapshot_id, header);
  hooks_.phase(absl::StrCat("replaying log after seq ", base));
  absl::Time t = absl::Now();
  int64_t last_time = have_snapshot ? header.seq_time_unix_micros() : 0;
  absl::Status replayed = Replay(base, ep.durable_seq(), &last_time, &prefetch);
  if (!replayed.ok()) {
    if (!absl::IsDataLoss(replayed)) return replayed;
    LOG(ERROR) << "recovery: cannot rebuild the graph from the store: " << replayed.message()
               << "; starting over from get_all";
    out.get_all_reason = absl::StrCat("store unusable: ", replayed.message());
    out.reset = true;
    absl::MutexLock l(&state_->mu);
    state_->ClearLocked(ep.durable_seq());
  }
  uint64_t replayed_records;
  {
    absl::MutexLock l(&state_->mu);
    replayed_records = out.reset ? 0 : state_->applied_seq - base;
    if (!out.reset) {
      out.get_all_reason = GetAllReasonLocked(!have_snapshot && ep.durable_seq() == 0, last_time);
    }
  }
  hooks_.timings([&](v1::RecoveryTimings* timings) {
    timings->set_replay_ms(Ms(absl::Now() - t));
    timings->set_records_replayed(replayed_records);
    // The graph keeps its indexes (natural key, adjacency) current as it is
    // built; the per-source marks were rebuilt during replay.
    timings->set_index_rebuild_ms(0);
  });
  LOG(INFO) << "recovery: replayed " << replayed_records << " records in " << Ms(absl::Now() - t)
            << " ms; graph at seq " << ep.durable_seq() << "; " << HeapSummary();
  return out;
}

absl::StatusOr<Recovery::Outcome> Recovery::CatchUp(absl::Time began) {
  // 1. Fence the old active.
  hooks_.phase("promoting: acquiring epoch");
  absl::Time t = absl::Now();
  Outcome out;
  v1::AcquireEpochResponse& ep = out.epoch;
  RETURN_IF_ERROR(AcquireEpoch(&ep));
  const double epoch_ms = Ms(absl::Now() - t);
  hooks_.epoch(ep.epoch());
  hooks_.timings([&](v1::RecoveryTimings* timings) {
    timings->set_acquire_epoch_ms(epoch_ms);
    timings->set_promote_epoch_ms(epoch_ms);
  });

  // 2. Read to the end of the durable log. Nothing new becomes durable now.
  hooks_.phase(absl::StrCat("promoting: reading the log to seq ", ep.durable_seq()));
  t = absl::Now();
  uint64_t before;
  int64_t last_time;
  {
    absl::MutexLock l(&state_->mu);
    before = state_->applied_seq;
    last_time = state_->last_record_time;
  }
  absl::Status caught_up =
      before > ep.durable_seq()
          ? absl::DataLossError(absl::StrCat("the standby applied seq ", before,
                                             " but the durable seq is ", ep.durable_seq()))
          : Replay(before, ep.durable_seq(), &last_time);
  if (!caught_up.ok()) {
    if (!absl::IsDataLoss(caught_up)) return caught_up;
    LOG(ERROR) << "promote: the standby cannot reach the durable log (" << caught_up.message()
               << "); falling back to the normal recovery (new epoch, snapshot, replay)";
    {
      absl::MutexLock l(&state_->mu);
      state_->ClearLocked(0);
    }
    return Run(began);
  }
  out.caught_up = true;
  uint64_t records;
  {
    absl::MutexLock l(&state_->mu);
    records = state_->applied_seq - before;
    // As Run: an empty store (a fresh cluster whose graphs all started as
    // standbys) or a long silence of the log is followed by get_all.
    out.get_all_reason = GetAllReasonLocked(ep.durable_seq() == 0, last_time);
  }
  const double catch_up_ms = Ms(absl::Now() - t);
  hooks_.timings([&](v1::RecoveryTimings* timings) {
    timings->set_promote_catch_up_ms(catch_up_ms);
    timings->set_promote_records(records);
    timings->set_records_replayed(records);
    timings->set_replay_ms(catch_up_ms);
  });
  LOG(INFO) << "promote: epoch " << ep.epoch() << " acquired in " << epoch_ms << " ms (previous "
            << ep.previous_epoch() << "); caught up " << records << " records to seq "
            << ep.durable_seq() << " in " << catch_up_ms << " ms";
  return out;
}

std::string Recovery::GetAllReasonLocked(bool empty_store, int64_t last_time) {
  if (images_->DropPartialImageLocked()) {
    // The graph died while journaling a get_all image, before its intake
    // opened (get_all.h).
    LOG(WARNING) << "recovery: the log ends inside a get_all image; taking get_all again";
    return "the previous get_all did not finish";
  }
  if (empty_store) return "fresh start: the store is empty";
  if (last_time > 0) {
    absl::Duration down = absl::Now() - absl::FromUnixMicros(last_time);
    if (down > options_.get_all_after_downtime) {
      return absl::StrCat("downtime ", absl::FormatDuration(down), " exceeds ",
                          absl::FormatDuration(options_.get_all_after_downtime));
    }
  }
  return std::string();
}

absl::Status Recovery::AcquireEpoch(v1::AcquireEpochResponse* resp) {
  absl::Duration backoff = absl::Milliseconds(50);
  int failures = 0;
  while (true) {
    if (hooks_.stopped()) return absl::CancelledError("shut down while acquiring epoch");
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::AcquireEpochRequest req;
    req.set_owner(options_.owner);
    grpc::Status st = persistor_->AcquireEpoch(&ctx, req, resp);
    if (st.ok()) return absl::OkStatus();
    if (IsWrongService(st)) {
      return WrongServiceError(options_.persistor_address, "vitrage.v1.Persistor",
                               "[persistency] persistor_address");
    }
    if (!IsTransient(st)) return FromGrpcStatus(st);
    // A server refused by the TLS role check shows only as UNAVAILABLE.
    std::string refused = LastServerRefusal(options_.persistor_address);
    if (!refused.empty()) refused = absl::StrCat("; ", refused);
    if (failures++ % 20 == 0) {
      LOG(WARNING) << "recovery: persistor at " << options_.persistor_address
                   << " not answering AcquireEpoch (" << st.error_message() << refused
                   << "); staying RECOVERING and retrying (never starting empty)";
    }
    hooks_.phase(
        absl::StrCat("acquiring epoch: persistor unreachable (", st.error_message(), refused, ")"));
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::Status Recovery::LoadSnapshot(uint64_t* snapshot_id, v1::SnapshotHeader* header,
                                    LogPrefetch* prefetch, uint32_t* skipped_out) {
  uint64_t older_than = 0;
  uint32_t skipped = 0;
  int failures = 0;
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    if (hooks_.stopped()) return absl::CancelledError("shut down while loading snapshot");
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
      absl::MutexLock l(&state_->mu);
      state_->graph = std::move(g);
      state_->ClearMarksLocked();
      for (const auto& m : sections.source_marks) {
        state_->NoteMarkAtLocked(m.source(), m.source_seq(), header->seq());
      }
      evaluator_->NoteSnapshotState(sections.evaluator_state);
      state_->applied_seq = header->seq();
      state_->last_record_time = header->seq_time_unix_micros();
      if (skipped_out != nullptr) *skipped_out = skipped;
      return absl::OkStatus();
    }
    if (decode_error.ok() && st.error_code() == grpc::StatusCode::NOT_FOUND) {
      if (skipped_out != nullptr) *skipped_out = skipped;
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

absl::Status Recovery::Replay(uint64_t after_seq, uint64_t durable_seq, int64_t* last_time,
                              LogPrefetch* prefetch) {
  absl::Duration backoff = absl::Milliseconds(50);
  const uint64_t base = after_seq;
  auto apply = [&](const v1::ReadLogResponse& resp) -> absl::Status {
    absl::MutexLock l(&state_->mu);
    graph::VertexLookahead ahead(&state_->graph);
    const int n = resp.records_size();
    for (int i = 0; i < n; ++i) {
      ahead.Before(i, n, [&](int j) {
        return graph::VertexLookahead::FirstVertexId(resp.records(j).delta());
      });
      const v1::JournalRecord& rec = resp.records(i);
      if (rec.seq() <= state_->applied_seq) continue;  // overlap after a retry
      // Records after the durable seq AcquireEpoch returned were never made
      // durable by any epoch (the store drops them when it hands out the
      // epoch; a read that began before may still show them): never apply
      // them, the journal continues at durable_seq + 1.
      if (rec.seq() > durable_seq) break;
      if (rec.seq() != state_->applied_seq + 1) {
        return absl::DataLossError(
            state_->applied_seq == base
                ? absl::StrCat("the log does not reach back to seq ", base + 1,
                               " (first record is ", rec.seq(), ")")
                : absl::StrCat("gap in the log: expected seq ", state_->applied_seq + 1, ", got ",
                               rec.seq()));
      }
      RETURN_IF_ERROR(ApplyRecordLocked(rec));
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
      absl::MutexLock l(&state_->mu);
      applied = state_->applied_seq;
    }
    if (applied >= durable_seq) break;
    if (hooks_.stopped()) return absl::CancelledError("shut down while replaying");
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
      absl::MutexLock l(&state_->mu);
      if (state_->applied_seq < durable_seq) {
        return absl::DataLossError(absl::StrCat("the log ends at seq ", state_->applied_seq,
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

absl::Status Recovery::ApplyRecordLocked(const v1::JournalRecord& rec) {
  if (rec.reset()) {
    state_->graph.Clear();
    state_->ClearMarksLocked();
  }
  const uint64_t overflows = graph::KeyTableOverflows();
  absl::Status s = rec.has_image_chunk() ? images_->ApplyImageRecordLocked(rec)
                                         : state_->graph.ApplyDelta(rec.delta());
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
  state_->applied_seq = rec.seq();
  if (!rec.source().empty()) state_->NoteMarkLocked(rec.source(), rec.source_seq());
  state_->last_record_time = rec.time_unix_micros();
  evaluator_->NoteReplayed(rec);
  return absl::OkStatus();
}

}  // namespace vitrage::service
