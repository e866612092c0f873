// Ends client-streaming calls (PutSnapshot) whose client sends nothing for
// too long ([persistor] stream_stall_timeout).
//
// A synchronous handler blocked in Read() waits for as long as the client
// keeps its connection open: a stopped graph (SIGSTOP), a hung one or a
// hostile client would hold the call, and the handler's thread, forever.
// One thread per UploadWatch looks at every registered call a few times
// per timeout and cancels (ServerContext::TryCancel) those without a
// message for `timeout`: their Read() returns false and the handler ends
// the call, saying why (Call::timed_out()).
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_UPLOAD_WATCH_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_UPLOAD_WATCH_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "absl/time/time.h"

namespace vitrage::persistor {

class UploadWatch {
 public:
  explicit UploadWatch(absl::Duration timeout);
  ~UploadWatch();  // stops the thread; REQUIRES: no Call registered
  UploadWatch(const UploadWatch&) = delete;
  UploadWatch& operator=(const UploadWatch&) = delete;

  absl::Duration timeout() const { return timeout_; }

  // Registers a call for as long as it lives.
  class Call {
   public:
    Call(UploadWatch* watch, grpc::ServerContext* context);
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    // The handler waits for the client from now on (the clock starts
    // again) / works on what came (no clock: a slow database is not the
    // client's silence).
    void Waiting();
    void Working();
    // True once the watch cancelled the call for its silence.
    bool timed_out() const { return timed_out_.load(); }

   private:
    friend class UploadWatch;
    UploadWatch* const watch_;
    grpc::ServerContext* const context_;
    std::atomic<bool> timed_out_{false};
  };

 private:
  void Run();

  const absl::Duration timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  // When each call started waiting for its client (InfiniteFuture while
  // it works).
  std::map<Call*, absl::Time> calls_;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_UPLOAD_WATCH_H_
