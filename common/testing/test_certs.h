// A throw-away PKI for TLS tests, made with deploy/make-certs.sh (openssl):
// a CA, a second unrelated CA, and certificates for 127.0.0.1 with the
// given roles (URI SAN spiffe://vitrage/ROLE).
#ifndef VITRAGE_COMMON_TESTING_TEST_CERTS_H_
#define VITRAGE_COMMON_TESTING_TEST_CERTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vitrage::testing {

class TestPki {
 public:
  // Creates DIR/good (CA "good") and DIR/other (CA "other").
  static absl::StatusOr<TestPki> Create(const std::string& dir);

  // Issues NAME.pem/NAME.key with `roles` ("graph" or "graph,admin"; "" for
  // a certificate without any role URI) from the good CA, or from the other
  // CA when `other_ca`.
  absl::Status Issue(const std::string& name, const std::string& roles, bool other_ca = false);

  std::string ca() const { return dir_ + "/good/ca.pem"; }
  std::string other_ca() const { return dir_ + "/other/ca.pem"; }
  std::string cert(const std::string& name, bool other_ca = false) const {
    return dir_ + (other_ca ? "/other/" : "/good/") + name + ".pem";
  }
  std::string key(const std::string& name, bool other_ca = false) const {
    return dir_ + (other_ca ? "/other/" : "/good/") + name + ".key";
  }
  // "[ssl]" lines for vitrage.conf with NAME's certificate.
  std::string SslSection(const std::string& name) const;

 private:
  std::string dir_;
};

// The contents of a file ("" when unreadable).
std::string ReadPemFile(const std::string& path);

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_TEST_CERTS_H_
