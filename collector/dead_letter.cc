#include "collector/dead_letter.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "vitrage/v1/graph.pb.h"
#include "vitrage/v1/graph_types.pb.h"

namespace vitrage::collector {

std::string DeadLetterLine(absl::Time time, absl::string_view source, uint64_t source_seq,
                           absl::string_view reason, const std::string& event_bytes) {
  auto quoted = [](absl::string_view s) {
    // replace: a reason quoting the event may hold bytes that are not UTF-8
    return nlohmann::json(std::string(s))
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::string event_json;
  v1::Event event;
  if (!event.ParseFromString(event_bytes) ||
      !google::protobuf::util::MessageToJsonString(event, &event_json).ok()) {
    event_json = quoted(absl::StrCat("(", event_bytes.size(), " bytes that do not parse)"));
  }
  return absl::StrCat(
      "{\"time\": ", quoted(absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone())),
      ", \"source\": ", quoted(source), ", \"source_seq\": ", source_seq,
      ", \"reason\": ", quoted(reason), ", \"event\": ", event_json, "}");
}

absl::Status AppendDeadLetter(const std::string& path, absl::string_view line) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("[collector] dead_letter_file ", path, ": ", strerror(errno)));
  }
  std::string out = absl::StrCat(line, "\n");
  const char* p = out.data();
  size_t left = out.size();
  absl::Status st;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      st = absl::UnavailableError(
          absl::StrCat("[collector] dead_letter_file ", path, ": write: ", strerror(errno)));
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (st.ok() && fdatasync(fd) != 0) {
    st = absl::UnavailableError(
        absl::StrCat("[collector] dead_letter_file ", path, ": fdatasync: ", strerror(errno)));
  }
  close(fd);
  return st;
}

}  // namespace vitrage::collector
