// What the persistor accepts in one Append message, announced in the
// initial metadata of every Append stream (persistor_service/server/append_stream.h)
// before it reads a batch; the graph's journal client caps its batches to
// them. So a persistor configured with a smaller [limits]
// max_records_per_append than the graph's batch size is obeyed instead of
// refusing every large batch (which the graph could only take as fatal).
// Values are decimal integers; a persistor that announces nothing (older
// versions) gets the client's own limits.
#ifndef VITRAGE_COMMON_APPEND_LIMITS_H_
#define VITRAGE_COMMON_APPEND_LIMITS_H_

namespace vitrage {

// [limits] max_records_per_append of the persistor.
inline constexpr char kMaxRecordsPerAppendKey[] = "vitrage-max-records-per-append";
// The persistor's gRPC receive limit per message, in bytes.
inline constexpr char kMaxAppendBytesKey[] = "vitrage-max-append-bytes";

}  // namespace vitrage

#endif  // VITRAGE_COMMON_APPEND_LIMITS_H_
