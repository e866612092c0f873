#include "common/logging.h"

#include <glog/logging.h>

#include "absl/synchronization/mutex.h"

namespace vitrage {

void InitLogging(const char* program, const std::string& log_dir, bool debug) {
  static bool initialized = false;
  if (initialized) return;
  initialized = true;
  FLAGS_logtostderr = log_dir.empty();
  FLAGS_alsologtostderr = !log_dir.empty();
  if (!log_dir.empty()) FLAGS_log_dir = log_dir;
  FLAGS_colorlogtostderr = false;
  FLAGS_logbufsecs = 0;
  if (debug) FLAGS_v = 1;
  google::InitGoogleLogging(program);
  google::InstallFailureSignalHandler();
  // Debian's abseil is built without NDEBUG, so absl::Mutex keeps a lock-
  // order graph on every nested acquisition (measured: ~1 % of the graph's
  // intake CPU). The services' lock order is checked by the TSan runs
  // (deploy/sanitizers.sh) instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace vitrage
