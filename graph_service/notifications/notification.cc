#include "graph_service/notifications/notification.h"

#include "absl/strings/str_cat.h"

namespace vitrage::notifications {
namespace {

absl::Status Field(const nlohmann::json& msg, const char* key, bool non_empty, bool null_ok,
                   std::string* out) {
  auto it = msg.find(key);
  if (it == msg.end()) {
    return absl::InvalidArgumentError(absl::StrCat("notification has no ", key));
  }
  if (it->is_null() && null_ok) {
    out->clear();
    return absl::OkStatus();
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("notification ", key, " is a JSON ", it->type_name(), ", not a string"));
  }
  *out = it->get<std::string>();
  if (non_empty && out->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("notification ", key, " is empty"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Notification> ParseNotification(const nlohmann::json& msg) {
  nlohmann::json copy = msg;
  return ParseNotification(std::move(copy));
}

absl::StatusOr<Notification> ParseNotification(nlohmann::json&& msg) {
  if (!msg.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("notification is a JSON ", msg.type_name(), ", not an object"));
  }
  Notification n;
  absl::Status s;
  if (s = Field(msg, "message_id", true, false, &n.message_id); !s.ok()) return s;
  if (s = Field(msg, "event_type", true, false, &n.event_type); !s.ok()) return s;
  if (s = Field(msg, "priority", true, false, &n.priority); !s.ok()) return s;
  if (s = Field(msg, "publisher_id", false, true, &n.publisher_id); !s.ok()) return s;
  if (s = Field(msg, "timestamp", false, false, &n.timestamp); !s.ok()) return s;
  auto payload = msg.find("payload");
  if (payload == msg.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("notification ", n.message_id, " (", n.event_type, ") has no payload"));
  }
  n.payload = std::move(*payload);
  return n;
}

}  // namespace vitrage::notifications
