// A protobuf arena whose first block belongs to the object and survives
// Reset(): messages built on it, dropped with Reset() and built again reuse
// the same memory, already faulted in and warm in cache, and when they fit
// in the first block they never make the arena allocate. For a hot path that
// builds and drops one message (or request) at a time.
#ifndef VITRAGE_COMMON_REUSABLE_ARENA_H_
#define VITRAGE_COMMON_REUSABLE_ARENA_H_

#include <google/protobuf/arena.h>

#include <cstddef>
#include <memory>

namespace vitrage {

class ReusableArena {
 public:
  // `first_block` bytes are owned and reused; blocks beyond it grow up to
  // `max_block` bytes and are freed by Reset().
  ReusableArena(size_t first_block, size_t max_block)
      : block_(new char[first_block]), arena_(Options(block_.get(), first_block, max_block)) {}
  ReusableArena(const ReusableArena&) = delete;
  ReusableArena& operator=(const ReusableArena&) = delete;

  google::protobuf::Arena* get() { return &arena_; }
  void Reset() { arena_.Reset(); }

 private:
  static google::protobuf::ArenaOptions Options(char* block, size_t size, size_t max_block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = size;
    o.max_block_size = max_block;
    return o;
  }

  std::unique_ptr<char[]> block_;
  google::protobuf::Arena arena_;
};

}  // namespace vitrage

#endif  // VITRAGE_COMMON_REUSABLE_ARENA_H_
