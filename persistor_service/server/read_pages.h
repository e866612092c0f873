// What the two read streams (ReadLog, GetLatestSnapshot) share: pages read
// from the database ahead of the sends, and the CRC shown in their
// DATA_LOSS messages.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_READ_PAGES_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_READ_PAGES_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vitrage::persistor {

// "0x1a2b": a CRC as the DATA_LOSS messages show it.
inline std::string Hex32(uint32_t v) { return absl::StrCat("0x", absl::Hex(v)); }

// Reads pages from the database on its own thread while the RPC thread
// verifies and sends the previous page: reading and sending overlap. At most
// `depth` pages wait. `fetch` runs on the prefetch thread only (it owns the
// connection while the Prefetcher lives); it returns the next page, and
// sets *last when no page follows.
template <typename Page>
class Prefetcher {
 public:
  struct Fetched {
    absl::Status status;
    Page page;
  };
  // Fills *page; sets *last when no page follows.
  using Fetch = std::function<absl::Status(Page* page, bool* last)>;
  explicit Prefetcher(Fetch fetch, size_t depth = 2) : fetch_(std::move(fetch)), depth_(depth) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }
  // Moves the next page into *out; false after the last one.
  bool Next(Fetched* out) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !pages_.empty() || done_; });
    if (pages_.empty()) return false;
    *out = std::move(pages_.front());
    pages_.pop_front();
    cv_.notify_all();
    return true;
  }

 private:
  void Run() {
    bool last = false;
    while (!last) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || pages_.size() < depth_; });
        if (stop_) break;
      }
      Fetched f;
      f.status = fetch_(&f.page, &last);
      if (!f.status.ok()) last = true;
      std::lock_guard<std::mutex> lock(mu_);
      pages_.push_back(std::move(f));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

  Fetch fetch_;
  const size_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Fetched> pages_;
  bool stop_ = false;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_READ_PAGES_H_
