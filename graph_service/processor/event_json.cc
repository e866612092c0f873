#include "graph_service/processor/event_json.h"

#include <cstdint>

namespace vitrage::processor {
namespace {

void JsonToValue(const nlohmann::json& j, v1::Value* out) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      out->set_null_value(true);
      break;
    case nlohmann::json::value_t::boolean:
      out->set_bool_value(j.get<bool>());
      break;
    case nlohmann::json::value_t::number_integer:
      out->set_int_value(j.get<int64_t>());
      break;
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) {
        out->set_int_value(static_cast<int64_t>(u));
      } else {
        out->set_double_value(static_cast<double>(u));
      }
      break;
    }
    case nlohmann::json::value_t::number_float:
      out->set_double_value(j.get<double>());
      break;
    case nlohmann::json::value_t::string:
      out->set_string_value(j.get_ref<const std::string&>());
      break;
    case nlohmann::json::value_t::array: {
      v1::ListValue* l = out->mutable_list_value();
      for (const auto& e : j) JsonToValue(e, l->add_values());
      break;
    }
    case nlohmann::json::value_t::object:
      JsonToMapValue(j, out->mutable_map_value());
      break;
    default:  // binary, discarded: never produced by the parser
      out->set_null_value(true);
      break;
  }
}

}  // namespace

void JsonToMapValue(const nlohmann::json& obj, v1::MapValue* out) {
  out->Clear();
  if (!obj.is_object()) return;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    v1::Property* p = out->add_entries();
    p->set_key(it.key());
    JsonToValue(it.value(), p->mutable_value());
  }
}

}  // namespace vitrage::processor
