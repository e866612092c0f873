// Append: one client stream of journal batches (vitrage.v1.Persistor
// Append, a raw bidi stream). Each batch is checked and handed to the
// LogWriter; one AppendResponse with the new durable seq goes back per
// batch, in order. The first error ends the stream with that status once
// every batch it queued has been completed. README.md, "Life of a
// record", steps 2-5.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_APPEND_STREAM_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_APPEND_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>

#include "persistor_service/server/log_writer.h"

namespace vitrage::persistor {

struct AppendStreamLimits {
  // Bytes of batches queued to the writer and not yet acked, beyond which
  // the stream stops reading (flow control reaches the client).
  size_t max_inflight_bytes = 32 << 20;
  // Records in one AppendRequest ([limits] max_records_per_append).
  int max_records_per_append = 100'000;
  // gRPC's receive limit per message, told to the client.
  int max_message_bytes = 8 << 20;
};

// Starts the Append stream of `context`: sends the limits as initial
// metadata (common/append_limits.h), then reads batches. While
// *shutting_down, new batches get UNAVAILABLE.
// REQUIRES: writer and shutting_down outlive the stream.
grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StartAppendStream(
    grpc::CallbackServerContext* context, LogWriter* writer, const std::atomic<bool>* shutting_down,
    const AppendStreamLimits& limits);

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_APPEND_STREAM_H_
