// ReadLog: the log records after a seq, up to the durable seq, re-checked
// (CRC, contiguity) and sent in batches of at most max_batch_bytes; with
// follow (hot standby) the stream stays open and sends each record once it
// is durable. README.md, "Life of a record", step 6.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_READER_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_READER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "persistor_service/mysql/pool.h"
#include "persistor_service/server/log_writer.h"
#include "persistor_service/server/read_streams.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::persistor {

class LogReader {
 public:
  // `writer` tells a follow stream of new durable records without a
  // database read; *shutting_down ends follow streams.
  // REQUIRES: pool, writer and shutting_down outlive the reader.
  LogReader(mysql::ConnectionPool* pool, const LogWriter* writer,
            const std::atomic<bool>* shutting_down)
      : pool_(pool), writer_(writer), shutting_down_(shutting_down) {}

  // Serves one ReadLog stream admitted as `stream`. OK once the range is
  // sent (a follow stream ends CANCELLED, with the client or shutdown);
  // OUT_OF_RANGE when records asked for were pruned; DATA_LOSS naming the
  // seq of a bad or missing record; the write's error when the client went
  // away or stalled.
  absl::Status Read(grpc::ServerContext* context, const vitrage::v1::ReadLogRequest& request,
                    ReadStreams::Ticket& stream,
                    grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer);

 private:
  // Sends the records after `after_seq` up to the durable seq (returned in
  // *durable) in batches of at most max_bytes; with `write_empty` an empty
  // response when there is nothing to send. Reads page by page, each with
  // a read connection leased only for that page.
  absl::Status ReadRange(uint64_t after_seq, size_t max_bytes, bool write_empty,
                         ReadStreams::Ticket& stream,
                         grpc::ServerWriter<vitrage::v1::ReadLogResponse>* writer,
                         uint64_t* durable);

  mysql::ConnectionPool* const pool_;
  const LogWriter* const writer_;
  const std::atomic<bool>* const shutting_down_;
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_LOG_READER_H_
