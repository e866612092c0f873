#include "common/testing/test_certs.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/testing/process.h"

namespace vitrage::testing {
namespace {

absl::Status Run(const std::vector<std::string>& argv, const std::string& log) {
  auto rc = RunCommand(argv, log, absl::Seconds(60));
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return absl::InternalError(
        absl::StrCat("deploy/make-certs.sh failed (", *rc, "): ", ReadFileOrEmpty(log)));
  }
  return absl::OkStatus();
}

std::string Script() { return SourceDir() + "/deploy/make-certs.sh"; }

}  // namespace

absl::StatusOr<TestPki> TestPki::Create(const std::string& dir) {
  TestPki pki;
  pki.dir_ = dir;
  for (const char* ca : {"good", "other"}) {
    if (auto s = Run({"/bin/bash", Script(), absl::StrCat(dir, "/", ca), "ca"},
                     absl::StrCat(dir, "/make-certs-", ca, ".log"));
        !s.ok()) {
      return s;
    }
  }
  return pki;
}

absl::Status TestPki::Issue(const std::string& name, const std::string& roles, bool other_ca) {
  std::string d = dir_ + (other_ca ? "/other" : "/good");
  return Run({"/bin/bash", Script(), d, "cert", name, roles.empty() ? "-" : roles},
             absl::StrCat(d, "/make-certs-", name, ".log"));
}

std::string TestPki::SslSection(const std::string& name) const {
  return absl::StrCat("[ssl]\ncert_file = ", cert(name), "\nkey_file = ", key(name),
                      "\nca_file = ", ca(), "\n");
}

std::string ReadPemFile(const std::string& path) { return ReadFileOrEmpty(path); }

}  // namespace vitrage::testing
