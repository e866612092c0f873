// Conversions between the graph's native values and the wire types of
// vitrage/v1/graph_types.proto (for the query API, the journal and tests).
#ifndef VITRAGE_GRAPH_SERVICE_GRAPH_PROTO_CONVERT_H_
#define VITRAGE_GRAPH_SERVICE_GRAPH_PROTO_CONVERT_H_

#include "google/protobuf/repeated_field.h"
#include "graph_service/graph/graph.h"
#include "graph_service/graph/value.h"
#include "vitrage/v1/graph_types.pb.h"

namespace vitrage::graph {

// Value -> v1::Value. Never fails.
void ValueToProto(const Value& v, v1::Value* out);
// v1::Value -> Value. An unset kind reads as null. String values are
// interned when `key` interns values (pass the property's key).
Value ValueFromProto(const v1::Value& v, KeyId key);

// True when `v` == ValueFromProto(p, key) (for any key), without building
// the value (no allocation for scalars and lists of scalars).
bool EqualsProto(const Value& v, const v1::Value& p);

// Properties -> repeated Property (in key-id order).
void PropertiesToProto(const Properties& props,
                       google::protobuf::RepeatedPtrField<v1::Property>* out);
// repeated Property -> Properties (duplicate keys: the last wins).
Properties PropertiesFromProto(const google::protobuf::RepeatedPtrField<v1::Property>& in);

// Exactly g->ReplaceVertexPropsAt(v, m.map_entries(), delta) where m is
// ValueFromProto of a v1::Value holding `props` (so duplicate keys: the last
// wins), but only the members whose value differs from the vertex's are
// converted: an update that changes a few of a vertex's properties builds
// only those. REQUIRE: `v` is a live vertex slot of `g`.
bool ReplaceVertexPropsFromProto(Graph* g, Slot v, const v1::MapValue& props,
                                 v1::GraphDelta* delta);

// REQUIRE: `v` / `e` are live slots of `g`.
void VertexToProto(const Graph& g, Slot v, v1::Vertex* out);
void EdgeToProto(const Graph& g, Slot e, v1::Edge* out);

// Adds the vertex / edge to `g` (errors as Graph::AddVertex / AddEdge).
absl::Status AddVertexFromProto(const v1::Vertex& v, Graph* g);
absl::Status AddEdgeFromProto(const v1::Edge& e, Graph* g);

}  // namespace vitrage::graph

#endif  // VITRAGE_GRAPH_SERVICE_GRAPH_PROTO_CONVERT_H_
