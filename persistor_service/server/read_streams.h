// Admission and stall detection for the persistor's server streams that
// write to the client (ReadLog, GetLatestSnapshot).
//
// A stream is admitted only while fewer than `max_per_role` streams of the
// same caller role are open (the roles of its certificate, docs/security.md;
// every client without a certificate, plaintext included, shares one
// count); an excess stream ends at once with RESOURCE_EXHAUSTED naming the
// limit. Each admitted stream writes through its Ticket, which arms a
// watchdog around every write: a client that reads nothing for
// `stall_timeout` (flow control then blocks the write) has its call
// cancelled, which frees the handler's thread and slot. The stalled client
// sees CANCELLED (no status can pass a full flow-control window); the
// persistor logs the reason and the handler ends with DEADLINE_EXCEEDED.
//
// A handler holds no database connection or transaction while it writes
// (log_reader.cc and snapshots.cc read a page, give the connection back,
// then write), so stalled clients cost at most their slots and threads.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_READ_STREAMS_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_READ_STREAMS_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace vitrage::persistor {

class ReadStreams {
 public:
  struct Options {
    int max_per_role = 32;                             // [persistor] max_read_streams
    absl::Duration stall_timeout = absl::Seconds(30);  // [persistor] stream_stall_timeout
  };

  // One admitted stream; gives its slot back when destroyed.
  class Ticket {
   public:
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    // Writes `message` with the watchdog armed. OK; CANCELLED when the
    // client went away; DEADLINE_EXCEEDED naming the timeout when the
    // client read nothing for stall_timeout (the call is then cancelled).
    template <typename Writer, typename Message>
    absl::Status Write(Writer* writer, const Message& message) {
      Arm();
      const bool ok = writer->Write(message);
      Disarm();
      return ok ? absl::OkStatus() : WriteFailed();
    }

   private:
    friend class ReadStreams;
    Ticket(ReadStreams* owner, grpc::ServerContext* context, std::string method, std::string role)
        : owner_(owner), context_(context), method_(std::move(method)), role_(std::move(role)) {}
    void Arm();
    void Disarm();
    absl::Status WriteFailed() const;

    ReadStreams* const owner_;
    grpc::ServerContext* const context_;
    const std::string method_;  // "ReadLog"
    const std::string role_;
    // Under owner_->mu_: when the write in progress began (InfiniteFuture:
    // none), and whether the watchdog cancelled the call.
    absl::Time write_since_ = absl::InfiniteFuture();
    bool stalled_ = false;
  };

  explicit ReadStreams(Options options);
  ~ReadStreams();  // stops the watchdog; REQUIRES: no Ticket left

  // Admits one stream of `method` ("ReadLog") for the caller of `context`,
  // or RESOURCE_EXHAUSTED: "ReadLog: 32 read streams of role reader are
  // already open; the limit is 32 ([persistor] max_read_streams)".
  absl::StatusOr<std::unique_ptr<Ticket>> Admit(grpc::ServerContext* context,
                                                absl::string_view method);

  // Streams open now (all roles) and streams ended as stalled so far.
  int open() const;
  uint64_t stalled_total() const { return stalled_total_.load(); }

  // The counting key of a peer: its roles joined by ',' ("graph",
  // "admin,reader"), or "(no certificate)".
  static std::string RoleKey(const grpc::ServerContext& context);

 private:
  void Release(Ticket* ticket);
  void Watch();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, int> open_by_role_;
  std::set<Ticket*> tickets_;
  std::atomic<uint64_t> stalled_total_{0};
  std::thread watchdog_;
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_READ_STREAMS_H_
