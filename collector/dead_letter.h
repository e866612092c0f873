// The collector's dead-letter file: events the graph refused as invalid
// (INVALID_ARGUMENT: retrying them cannot succeed), set aside so that the
// outbox goes on with the events after them ([collector] dead_letter_file,
// docs/collector.md).
//
// One line per event, appended and flushed to disk before the outbox moves
// past it:
//   {"time": "2026-12-06T10:00:00.123456Z", "source": "collector:default@...",
//    "source_seq": 42, "reason": "PushEvents: event 3 (source ... seq 42): ...",
//    "event": {...the v1::Event in protobuf's JSON form...}}
// The file is never read back by the collector; an operator replays what
// deserves it after fixing the datasource (docs/runbook.md).
#ifndef VITRAGE_COLLECTOR_DEAD_LETTER_H_
#define VITRAGE_COLLECTOR_DEAD_LETTER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace vitrage::collector {

// The line (without its newline) for an event whose serialized v1::Event is
// `event_bytes`.
std::string DeadLetterLine(absl::Time time, absl::string_view source, uint64_t source_seq,
                           absl::string_view reason, const std::string& event_bytes);

// Appends `line` and a newline to `path` (created mode 640) and syncs it.
// An error names the file; the caller logs the line instead.
absl::Status AppendDeadLetter(const std::string& path, absl::string_view line);

}  // namespace vitrage::collector

#endif  // VITRAGE_COLLECTOR_DEAD_LETTER_H_
