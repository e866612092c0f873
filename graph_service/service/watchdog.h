// The active graph's watchdog: whether its journal is stalled, and whether
// another graph has fenced it while it was idle.
//
// A stall (records waiting journal_stall_timeout with none becoming
// durable) makes the graph unhealthy: the owner's phase says since when and
// why, the health listener hears false, one log line says so; the first
// record that becomes durable again undoes all three. A store whose epoch
// is newer than the journal's (asked every fence_check_interval; an idle
// graph has no Append to be refused) is fatal, as a refused Append is.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_WATCHDOG_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_WATCHDOG_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "graph_service/journal/journal_client.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::service {

struct WatchdogOptions {
  // Zero: never stalled.
  absl::Duration journal_stall_timeout = absl::Seconds(30);
  // Zero: never asked.
  absl::Duration fence_check_interval = absl::Seconds(2);
};

class Watchdog {
 public:
  struct Hooks {
    // Under the owner's status lock: notes the journal's wait and last
    // error (Status), and with `phase` also sets that phase when the graph
    // is ACTIVE; returns false when it is not (the change is then not
    // taken, and is looked at again next round).
    std::function<bool(absl::Duration waiting, const std::string& error, const std::string* phase)>
        report;
    // Hears false when a stall starts, true when it ends. May be empty.
    std::function<void(bool serving)> health;
    // Called with FAILED_PRECONDITION when the store's epoch is newer.
    std::function<void(const absl::Status&)> fatal;
  };

  // `journal` and `persistor` outlive this. The first epoch check is one
  // fence_check_interval from now.
  Watchdog(WatchdogOptions options, journal::JournalClient* journal, v1::Persistor::Stub* persistor,
           Hooks hooks);

  // One round (the owner calls it every second while ACTIVE): the stall,
  // then the epoch when it is due. REQUIRES: one caller at a time.
  void Tick();

 private:
  void CheckJournalStall();
  void CheckFenced();

  const WatchdogOptions options_;
  journal::JournalClient* const journal_;
  v1::Persistor::Stub* const persistor_;
  const Hooks hooks_;
  bool stalled_ = false;
  absl::Time since_;
  uint64_t durable_at_stall_ = 0;
  absl::Time next_fence_check_;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_WATCHDOG_H_
