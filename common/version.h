// The version every binary prints for --version.
#ifndef VITRAGE_COMMON_VERSION_H_
#define VITRAGE_COMMON_VERSION_H_

#include <string>

namespace vitrage {

// This project's release; the processor follows upstream Vitrage 9.0.0
// (testdata/conformance).
inline constexpr char kVersion[] = "0.1.0";

// "PROGRAM 0.1.0 (vitrage fast failover; processor semantics of Vitrage 9.0.0)".
inline std::string VersionLine(const std::string& program) {
  return program + " " + kVersion +
         " (vitrage fast failover; processor semantics of Vitrage 9.0.0)";
}

}  // namespace vitrage

#endif  // VITRAGE_COMMON_VERSION_H_
