// Upstream's `static` datasource transformer (vitrage/datasources/static).
//
// Event fields: static_id, type (vitrage_type), id, state, category
// (default RESOURCE), metadata (merged into the vertex props), relationships
// [{source, target, relationship_type}] where the end that is not this
// entity's static_id is the other entity's dict (id, type, ...).
// An entity whose type has its own transformer (e.g. nova.host) yields only
// id, type and category (it merges into the datasource's vertex).
// Neighbours are placeholders stamped with the event's sample date.
#ifndef VITRAGE_GRAPH_SERVICE_PROCESSOR_STATIC_TRANSFORMER_H_
#define VITRAGE_GRAPH_SERVICE_PROCESSOR_STATIC_TRANSFORMER_H_

#include <string>
#include <vector>

#include "graph_service/processor/transformer.h"

namespace vitrage::processor {

inline constexpr char kStaticEntityType[] = "static";

class StaticTransformer : public Transformer {
 public:
  // `own_types`: vitrage_types that have their own transformer.
  explicit StaticTransformer(std::vector<std::string> own_types);
  absl::Status Transform(const Event& event, Entity* out) const override;

 private:
  bool HasOwnTransformer(absl::string_view type) const;
  std::vector<std::string> own_types_;
};

}  // namespace vitrage::processor

#endif  // VITRAGE_GRAPH_SERVICE_PROCESSOR_STATIC_TRANSFORMER_H_
