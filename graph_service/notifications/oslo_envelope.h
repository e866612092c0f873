// The oslo.messaging message envelope, as RabbitMQ carries it.
//
// oslo.messaging (python3-oslo.messaging, _drivers/common.py) sends every
// RPC message and every notification of the `messagingv2` notifier as a
// JSON object of two keys (envelope version 2.0):
//
//   {"oslo.version": "2.0", "oslo.message": "<the message, as JSON text>"}
//
// The older `messaging` notifier driver (format 1.0) sends the message
// object itself, with no envelope. deserialize_msg() takes an object as an
// envelope only when it has both keys; anything else is the message as is.
// A notification message is an object with message_id, publisher_id,
// event_type, priority, payload and timestamp (notification.h); RPC
// messages add `_context_*` keys, which are kept.
#ifndef VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_OSLO_ENVELOPE_H_
#define VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_OSLO_ENVELOPE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "nlohmann/json.hpp"

namespace vitrage::notifications {

// The envelope version we write and the newest we read.
inline constexpr char kOsloEnvelopeVersion[] = "2.0";

// A message body (the AMQP message's bytes) -> the message object inside.
// Accepts what oslo.messaging's deserialize_msg accepts, as long as the
// result is a JSON object: an envelope whose oslo.version is compatible
// with 2.0 (major 2, minor 0, revision 0: "2.0", "2.0.0"; oslo's
// version_is_compatible) and whose oslo.message is JSON text of an object,
// or a bare message object (format 1.0).
// INVALID_ARGUMENT, naming what is wrong, when the body is not JSON, not an
// object, has an unsupported or malformed oslo.version, an oslo.message
// that is not a string or not the text of an object, or is bigger or
// nests deeper than [limits] max_event_bytes / max_json_depth (the body as
// a whole and the text inside oslo.message each).
absl::StatusOr<nlohmann::json> ParseOsloEnvelope(std::string_view body,
                                                 const Config::Limits& limits);
// The same with the default [limits].
absl::StatusOr<nlohmann::json> ParseOsloEnvelope(std::string_view body);

// `msg` wrapped as oslo.messaging's serialize_msg does (version 2.0).
// Never fails: invalid UTF-8 in a string is replaced by U+FFFD, and
// non-ASCII is written as \u escapes (json.dumps' ensure_ascii).
std::string WrapOsloEnvelope(const nlohmann::json& msg);

}  // namespace vitrage::notifications

#endif  // VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_OSLO_ENVELOPE_H_
