// Upstream-shaped JSON events -> v1::Event bodies: what every producer of
// upstream driver events (the collector's datasources, the notification
// bus) sends to the processor.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_EVENT_JSON_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_EVENT_JSON_H_

#include "nlohmann/json.hpp"
#include "vitrage/v1/graph_types.pb.h"

namespace vitrage::processor {

// JSON object -> event body (JSON types map one to one; integers that fit
// int64 stay integers, larger unsigned ones become doubles). `out` is
// cleared first; a non-object leaves it empty. REQUIRES: `obj` nests no
// deeper than the caller's [limits] max_json_depth (this recurses once per
// level).
void JsonToMapValue(const nlohmann::json& obj, v1::MapValue* out);

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_EVENT_JSON_H_
