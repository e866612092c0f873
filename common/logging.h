// glog set-up shared by the three services.
#ifndef VITRAGE_COMMON_LOGGING_H_
#define VITRAGE_COMMON_LOGGING_H_

#include <string>

namespace vitrage {

// Initializes glog for `program`: logs to stderr (and to `log_dir` when
// non-empty), verbose level 1 when `debug`. Installs the failure signal
// handler so a crash leaves a stack trace in the log. Turns absl::Mutex's
// run-time deadlock detection off (see logging.cc). Call once, early.
void InitLogging(const char* program, const std::string& log_dir, bool debug);

}  // namespace vitrage

#endif  // VITRAGE_COMMON_LOGGING_H_
