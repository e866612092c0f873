// Bounds on what a client may send ([limits] in vitrage.conf,
// docs/security.md). The gRPC layer already refuses a message larger than
// the server's receive limit with RESOURCE_EXHAUSTED; these checks bound
// what fits in one message: events per call, properties per event, the
// length of each key and string, the size of one event.
//
// A request over a bound is refused as a whole (nothing of it is applied)
// with INVALID_ARGUMENT whose message names the [limits] key, the value
// found and the limit: retrying the same request cannot succeed.
// Persistor/Append checks max_records_per_append itself
// (persistor_service/server/append_stream.cc).
#ifndef VITRAGE_COMMON_INPUT_LIMITS_H_
#define VITRAGE_COMMON_INPUT_LIMITS_H_

#include "absl/status/status.h"
#include "common/config.h"
#include "vitrage/v1/graph.pb.h"

namespace vitrage {

// Graph/PushEvents: max_events_per_push, and per event max_event_bytes,
// max_properties (every key/value of the event, nested ones included) and
// max_property_bytes (each key and each string value; a JSON body is
// bounded by max_event_bytes only) and max_json_depth (nesting of the
// fields' maps and lists, or of a JSON body's objects and arrays). Messages
// name the event as "PushEvents event I (source "S" seq N)".
absl::Status CheckPushEvents(const v1::PushEventsRequest& req, const Config::Limits& limits);

}  // namespace vitrage

#endif  // VITRAGE_COMMON_INPUT_LIMITS_H_
