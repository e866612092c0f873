#include "common/testing/tcp_pipe.h"

#include <poll.h>
#include <unistd.h>

#include <vector>

namespace vitrage::testing {

void PumpBytes(int a, int b, const std::atomic<bool>* stop) {
  std::vector<char> buf(1 << 16);
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  const int timeout_ms = stop != nullptr ? 200 : -1;
  bool done = false;
  while (!done && poll(fds, 2, timeout_ms) >= 0) {
    if (stop != nullptr && stop->load()) break;
    for (int i = 0; i < 2 && !done; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf.data(), buf.size());
      if (n <= 0) {
        done = true;
        break;
      }
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(fds[1 - i].fd, buf.data() + off, n - off);
        if (w <= 0) {
          done = true;
          break;
        }
        off += w;
      }
    }
  }
}

}  // namespace vitrage::testing
