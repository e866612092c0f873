// The nesting depth of JSON text, found without parsing it: a pre-check
// for every recursive JSON walk (nlohmann's parser is iterative, but the
// converters to graph values and the writers recurse once per level).
#ifndef VITRAGE_COMMON_JSON_DEPTH_H_
#define VITRAGE_COMMON_JSON_DEPTH_H_

#include "absl/strings/string_view.h"

namespace vitrage {

// The deepest nesting of objects and arrays in `text` (a top-level object
// is depth 1; a scalar depth 0). Brackets inside string literals do not
// count. Stops reading at the first bracket that goes deeper than
// `stop_above` and returns stop_above + 1, so a hostile body costs no more
// than the part of it up to the limit. Does not validate the JSON:
// malformed text gets a depth all the same (the parser rejects it later).
int JsonDepth(absl::string_view text, int stop_above);

}  // namespace vitrage

#endif  // VITRAGE_COMMON_JSON_DEPTH_H_
