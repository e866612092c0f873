// JSON <-> Value, and a JSON writer byte-identical to Python's
// json.dumps(obj, sort_keys=True) with the default separators (", ", ": ")
// and ensure_ascii=True (the workload digest, testdata/workload/digest.py).
#ifndef VITRAGE_GRAPH_SERVICE_GRAPH_JSON_VALUE_H_
#define VITRAGE_GRAPH_SERVICE_GRAPH_JSON_VALUE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "graph_service/graph/value.h"
#include "nlohmann/json.hpp"

namespace vitrage::graph {

// nlohmann::json -> Value. Integers that fit int64 become ints; larger
// unsigned integers and all floats become doubles. Strings are interned when
// `key` interns values. Object keys are interned as property keys.
Value ValueFromJson(const nlohmann::json& j, KeyId key);
// Value -> nlohmann::json.
nlohmann::json ValueToJson(const Value& v);
// A JSON object -> Properties. REQUIRES: j.is_object().
Properties PropertiesFromJson(const nlohmann::json& j);
nlohmann::json PropertiesToJson(const Properties& p);

// Appends Python's repr of a float (shortest round-trip; "1.0", "1e-05",
// "1e+16", "Infinity", "NaN").
void AppendPythonFloat(double d, std::string* out);
// Appends `s` as a JSON string literal with ensure_ascii escaping (non-ASCII
// as \uXXXX, astral characters as surrogate pairs; invalid UTF-8 bytes are
// written as U+FFFD).
void AppendPythonJsonString(absl::string_view s, std::string* out);
// Appends `v` as json.dumps(v, sort_keys=True) would.
void AppendPythonJson(const Value& v, std::string* out);
// Appends a property map as a sorted JSON object.
void AppendPythonJson(const Properties& p, std::string* out);

}  // namespace vitrage::graph

#endif  // VITRAGE_GRAPH_SERVICE_GRAPH_JSON_VALUE_H_
