#include "common/logging.h"

#include <glog/logging.h>

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
}

}  // namespace vitrage
