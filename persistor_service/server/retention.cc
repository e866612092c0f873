#include "persistor_service/server/retention.h"

#include <glog/logging.h>

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "persistor_service/mysql/store.h"
#include "persistor_service/server/db_errors.h"

namespace vitrage::persistor {
namespace {

constexpr uint64_t kPruneBatch = 10000;

}  // namespace

Retention::~Retention() { Stop(); }

void Retention::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Retention::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  wanted_ = true;
  cv_.notify_all();
}

void Retention::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void Retention::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoMilliseconds(options_->retention_interval),
                   [&] { return stop_ || wanted_; });
      if (stop_) return;
      wanted_ = false;
    }
    absl::Status s = RunOnce();
    if (!s.ok()) LOG(WARNING) << "retention pass failed: " << s.message();
  }
}

absl::Status Retention::RunOnce() {
  std::lock_guard<std::mutex> pass_lock(pass_mu_);
  absl::StatusOr<mysql::ConnectionPool::Lease> conn = pool_->Acquire();
  if (!conn.ok()) return conn.status();
  mysql::Store store(conn->get());
  absl::StatusOr<std::vector<mysql::SnapshotRow>> snaps = store.ListSnapshots(/*all=*/true);
  if (!snaps.ok()) return NoteFailure(pool_, snaps.status());
  const std::set<uint64_t> in_progress = snapshots_->in_progress();
  std::vector<const mysql::SnapshotRow*> complete;
  for (const mysql::SnapshotRow& s : *snaps) {
    if (s.complete) {
      complete.push_back(&s);
    } else if (in_progress.count(s.snapshot_id) == 0 &&
               s.idle_seconds > absl::ToDoubleSeconds(options_->abandoned_snapshot_age)) {
      absl::StatusOr<std::optional<mysql::SnapshotRow>> kept =
          store.DeleteUnpublishedSnapshot(s.snapshot_id);
      if (!kept.ok()) return NoteFailure(pool_, kept.status());
      LOG(INFO) << (kept->has_value() ? "kept snapshot " : "deleted abandoned incomplete snapshot ")
                << s.snapshot_id << " (seq " << s.seq << ", writer " << s.writer << ", idle "
                << static_cast<int64_t>(s.idle_seconds) << " s)"
                << (kept->has_value() ? ": it was published meanwhile" : "");
    }
  }
  absl::StatusOr<uint64_t> orphans = store.DeleteOrphanChunks(16);
  if (!orphans.ok()) return NoteFailure(pool_, orphans.status());
  if (*orphans > 0) {
    LOG(INFO) << "retention: deleted the chunks of " << *orphans
              << " snapshots whose rows were gone (a cleanup interrupted)";
  }
  const size_t keep = static_cast<size_t>(std::max(1, options_->snapshots_to_keep));
  for (size_t i = keep; i < complete.size(); ++i) {
    const mysql::SnapshotRow& s = *complete[i];
    absl::Time t0 = absl::Now();
    if (absl::Status st = store.DeleteSnapshot(s.snapshot_id); !st.ok()) {
      return NoteFailure(pool_, st);
    }
    LOG(INFO) << "retention: deleted snapshot " << s.snapshot_id << " (seq " << s.seq << ", "
              << s.stored_bytes << " bytes) in " << absl::ToInt64Milliseconds(absl::Now() - t0)
              << " ms; keeping the newest " << keep;
  }
  if (complete.empty()) return absl::OkStatus();
  // Records up to the lowest seq of the kept snapshots are needed by no
  // snapshot. (Seqs need not grow with ids: a standby's snapshot can be
  // published while the active's, at a lower seq, is still encoding.)
  uint64_t upto = complete[0]->seq;
  for (size_t i = 1; i < std::min(keep, complete.size()); ++i) {
    upto = std::min(upto, complete[i]->seq);
  }
  uint64_t pruned = 0;
  while (true) {
    absl::StatusOr<uint64_t> n = store.PruneLog(upto, options_->log_retention, kPruneBatch);
    if (!n.ok()) return NoteFailure(pool_, n.status());
    pruned += *n;
    if (*n < kPruneBatch) break;
  }
  if (pruned > 0) {
    LOG(INFO) << "retention: pruned " << pruned << " log records with seq <= " << upto
              << " (covered by the oldest kept snapshot, older than "
              << absl::FormatDuration(options_->log_retention) << ")";
  }
  return absl::OkStatus();
}

}  // namespace vitrage::persistor
