// Frames on a file descriptor: [type byte][u64 length, host order][payload].
// The forked snapshot child (service/forked_encode.cc) and its encode
// helper process (encoder.cc) write their output this way; both run after
// fork, so these only call write(2).
#ifndef VITRAGE_GRAPH_SERVICE_SNAPSHOT_FRAMES_H_
#define VITRAGE_GRAPH_SERVICE_SNAPSHOT_FRAMES_H_

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace vitrage::snapshot {

// Writes all `n` bytes (retrying short writes and EINTR); false on error.
inline bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

inline bool WriteFrame(int fd, char type, const std::string& payload) {
  char head[9];
  head[0] = type;
  uint64_t len = payload.size();
  std::memcpy(head + 1, &len, sizeof(len));
  return WriteAll(fd, head, sizeof(head)) && WriteAll(fd, payload.data(), payload.size());
}

}  // namespace vitrage::snapshot

#endif  // VITRAGE_GRAPH_SERVICE_SNAPSHOT_FRAMES_H_
