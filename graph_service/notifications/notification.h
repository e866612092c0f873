// An OpenStack notification: the message object an oslo.messaging
// Notifier publishes (notify/notifier.py: message_id, publisher_id,
// event_type, priority, payload, timestamp), on queue `<topic>.<priority>`.
#ifndef VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_NOTIFICATION_H_
#define VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_NOTIFICATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace vitrage::notifications {

struct Notification {
  std::string message_id;    // uuid4 minted by the publisher; the dedupe key
  std::string publisher_id;  // "nova-compute:host-1"; "" when null
  std::string event_type;    // "instance.create.end", "zabbix.alarm.problem"
  std::string priority;      // as sent ("INFO", "info", "error", ...)
  std::string timestamp;     // publisher's str(utcnow()): "2024-05-01 10:00:00.123456"
  nlohmann::json payload;    // any JSON value; drivers want an object
};

// The message object (ParseOsloEnvelope's result) -> its notification
// fields; other keys (`_context_*`, `_unique_id`) are ignored.
// INVALID_ARGUMENT naming the field when `msg` is not an object, when
// message_id, event_type or priority is missing or not a non-empty string,
// when timestamp is missing or not a string, when publisher_id is neither a
// string nor null (oslo's Notifier may send null), or when payload is
// missing.
absl::StatusOr<Notification> ParseNotification(const nlohmann::json& msg);
// The same, taking the payload out of `msg` instead of copying it.
absl::StatusOr<Notification> ParseNotification(nlohmann::json&& msg);

}  // namespace vitrage::notifications

#endif  // VITRAGE_GRAPH_SERVICE_NOTIFICATIONS_NOTIFICATION_H_
