#include "common/input_limits.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "common/json_depth.h"

namespace vitrage {
namespace {

absl::Status Over(absl::string_view where, absl::string_view key, uint64_t found, uint64_t limit,
                  absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", found, " ", what, "; the limit is ",
                                                 limit, " ([limits] ", key, ")"));
}

// Counts the properties (map members and list elements, nested ones
// included) and checks each key and string; stops at the first violation.
// Also adds up an upper bound of the walked map's encoded size (bound()):
// every element's tags and length prefixes counted at their widest.
class PropertyWalker {
 public:
  PropertyWalker(const Config::Limits& limits, std::string where)
      : limits_(limits), where_([w = std::move(where)] { return w; }) {}
  // `where` is only called to name a violation.
  PropertyWalker(const Config::Limits& limits, std::function<std::string()> where)
      : limits_(limits), where_(std::move(where)) {}

  // Encoded bytes of what Map() walked, at most (only when it returned OK).
  uint64_t bound() const { return bound_; }

  // `depth`: the map's own nesting level (an event's fields are level 1).
  absl::Status Map(const v1::MapValue& m, int depth = 1) {
    if (depth > limits_.max_json_depth) return TooDeep(depth);
    for (const v1::Property& p : m.entries()) {
      if (auto s = Count(); !s.ok()) return s;
      // entry tag + length, key tag + length, value tag + length
      bound_ += 3 * kMaxTagAndLength + p.key().size();
      if (p.key().size() > limits_.max_property_bytes) {
        return Over(where_(), "max_property_bytes", p.key().size(), limits_.max_property_bytes,
                    "bytes in a property name");
      }
      if (auto s = Value(p.value(), depth); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // `depth`: the level of the map or list holding `v`.
  absl::Status Value(const v1::Value& v, int depth) {
    // the kind's tag + length (or a 64-bit number)
    bound_ += kMaxTagAndLength;
    switch (v.kind_case()) {
      case v1::Value::kStringValue:
        bound_ += v.string_value().size();
        if (v.string_value().size() > limits_.max_property_bytes) {
          return Over(where_(), "max_property_bytes", v.string_value().size(),
                      limits_.max_property_bytes, "bytes in a string value");
        }
        return absl::OkStatus();
      case v1::Value::kListValue:
        if (depth + 1 > limits_.max_json_depth) return TooDeep(depth + 1);
        for (const v1::Value& x : v.list_value().values()) {
          if (auto s = Count(); !s.ok()) return s;
          bound_ += kMaxTagAndLength;  // the element's tag + length
          if (auto s = Value(x, depth + 1); !s.ok()) return s;
        }
        return absl::OkStatus();
      case v1::Value::kMapValue:
        return Map(v.map_value(), depth + 1);
      default:
        return absl::OkStatus();
    }
  }

 private:
  absl::Status TooDeep(int depth) {
    return Over(where_(), "max_json_depth", depth, limits_.max_json_depth,
                "levels of nested maps and lists (or more)");
  }

  absl::Status Count() {
    if (++count_ > static_cast<uint64_t>(limits_.max_properties)) {
      return Over(where_(), "max_properties", count_, limits_.max_properties,
                  "properties (or more)");
    }
    return absl::OkStatus();
  }

  // A field tag (< 2^14: 2 bytes) and a length or varint (10 bytes).
  static constexpr uint64_t kMaxTagAndLength = 12;

  const Config::Limits& limits_;
  const std::function<std::string()> where_;
  uint64_t count_ = 0;
  uint64_t bound_ = 0;
};

}  // namespace

absl::Status CheckPushEvents(const v1::PushEventsRequest& req, const Config::Limits& limits) {
  if (req.events_size() > limits.max_events_per_push) {
    return Over("PushEvents", "max_events_per_push", req.events_size(), limits.max_events_per_push,
                "events in one call");
  }
  for (int i = 0; i < req.events_size(); ++i) {
    const v1::Event& e = req.events(i);
    // The same words as the engine's refusals: the collector finds the
    // event by them (collector/outbox.cc).
    auto where = [i, &e] {
      return absl::StrCat("PushEvents event ", i, " (source \"", e.source(), "\" seq ",
                          e.source_seq(), ")");
    };
    if (e.source().size() > limits.max_property_bytes) {
      return Over(absl::StrCat("PushEvents event ", i), "max_property_bytes", e.source().size(),
                  limits.max_property_bytes, "bytes in its source");
    }
    // The event's encoded size: an upper bound from the walk first (no
    // second pass over the event when it is clearly under the limit).
    uint64_t bound = 3 * 12 + e.source().size() + e.json().size();
    if (e.has_fields()) {
      PropertyWalker w(limits, std::function<std::string()>(where));
      if (auto s = w.Map(e.fields()); !s.ok()) return s;
      bound += w.bound();
    }
    if (bound > limits.max_event_bytes) {
      size_t bytes = e.ByteSizeLong();
      if (bytes > limits.max_event_bytes) {
        return Over(where(), "max_event_bytes", bytes, limits.max_event_bytes,
                    "bytes in one event");
      }
    }
    // A JSON body (hand-written requests): its nesting, read off the text
    // before any parser or converter recurses into it. Its members are
    // bounded by max_event_bytes only: counting them would mean parsing it
    // twice.
    if (e.body_case() == v1::Event::kJson) {
      int depth = JsonDepth(e.json(), limits.max_json_depth);
      if (depth > limits.max_json_depth) {
        return Over(where(), "max_json_depth", depth, limits.max_json_depth,
                    "levels of nested JSON objects and arrays (or more)");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace vitrage
