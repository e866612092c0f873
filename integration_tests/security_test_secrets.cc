// Issue 13: the database password never shows, wherever it comes from
// ([database] connection URL, password_file, password_env, --database_url)
// and whether it is right or wrong: not in the persistor's log, not in its
// GetStatus (last_database_error included), not in its /metrics, not in a
// start-up error. A real vitrage-persistor on a private MariaDB whose user
// has a distinctive password.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/mariadb_fixture.h"
#include "common/testing/process.h"
#include "google/protobuf/util/json_util.h"
#include "vitrage/v1/persistor.grpc.pb.h"

namespace vitrage::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "Pw-7f3e9c1a-right";
constexpr char kWrongPassword[] = "Pw-5b2d8e44-wrong";

class SecretsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new MariaDbFixture(MariaDbFixture::Options());
    absl::Status s = db_->Start();
    ASSERT_TRUE(s.ok()) << s;
    auto q = db_->Query(absl::StrCat("CREATE USER 'vuser'@'%' IDENTIFIED BY '", kPassword,
                                     "'; GRANT ALL ON vitrage.* TO 'vuser'@'%';"),
                        false);
    ASSERT_TRUE(q.ok()) << q.status();
    auto dir = MakeTempDir("secrets-test");
    ASSERT_TRUE(dir.ok());
    dir_ = new std::string(*dir);
  }
  static void TearDownTestSuite() {
    delete db_;
    RemoveTree(*dir_);
    delete dir_;
  }

  static std::string Url(const std::string& password) {
    return absl::StrCat("mysql://vuser", password.empty() ? "" : ":" + password,
                        "@127.0.0.1:", db_->port(), "/vitrage");
  }

  // Starts a persistor with `database` lines, waits for GetStatus, and
  // returns everything it showed: log, GetStatus as JSON, /metrics.
  struct Shown {
    bool reachable = false;
    std::string everything;
  };
  static Shown RunPersistor(const std::string& name, const std::string& database,
                            const std::vector<std::string>& extra_args = {},
                            const std::string& env = "") {
    std::string conf = absl::StrCat(*dir_, "/", name, ".conf");
    int port = PickFreePort(), metrics = PickFreePort();
    std::ofstream(conf) << "[database]\n"
                        << database << "\nconnect_timeout = 2\n[persistor]\nlisten_address = "
                        << "127.0.0.1:" << port << "\nmetrics_address = 127.0.0.1:" << metrics
                        << "\n[ssl]\nallow_plaintext = true\n";
    std::vector<std::string> argv;
    if (!env.empty()) {
      argv = {"/usr/bin/env", env};
    }
    argv.push_back(BinaryDir() + "/persistor_service/vitrage-persistor");
    argv.push_back("--config");
    argv.push_back(conf);
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    std::string log = absl::StrCat(*dir_, "/", name, ".log");
    auto p = Process::Start(argv, log);
    EXPECT_TRUE(p.ok());
    Shown shown;
    auto stub = v1::Persistor::NewStub(
        MakeChannel(absl::StrCat("127.0.0.1:", port), ServerRole::kPersistor));
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    v1::PersistorStatus status;
    bool answered = false;
    while (absl::Now() < deadline && p->running()) {
      // A wrong password before the first connection: the persistor retries
      // (serving GetStatus meanwhile, with the error); its log says why.
      if (ReadFileOrEmpty(log).find("unreachable (attempt 2,") != std::string::npos) {
        absl::SleepFor(absl::Milliseconds(500));
        break;
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
      status.Clear();
      if (stub->GetStatus(&ctx, v1::PersistorStatusRequest(), &status).ok()) {
        answered = true;
        // A wrong password: wait until the error is reported.
        if (status.database_reachable() || !status.last_database_error().empty()) break;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    shown.reachable = answered && status.database_reachable();
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(status, &json);
    std::string metrics_out = absl::StrCat(*dir_, "/", name, ".metrics");
    (void)RunCommand({"/usr/bin/python3", "-c",
                      absl::StrCat("import urllib.request,sys; sys.stdout.write(urllib.request."
                                   "urlopen('http://127.0.0.1:",
                                   metrics, "/metrics', timeout=10).read().decode())")},
                     metrics_out, absl::Seconds(30));
    p->Stop(absl::Seconds(10));  // the shutdown lines are checked too
    shown.everything = absl::StrCat(ReadFileOrEmpty(log), "\n--- status:\n", json,
                                    "\n--- metrics:\n", ReadFileOrEmpty(metrics_out));
    return shown;
  }

  static MariaDbFixture* db_;
  static std::string* dir_;
};
MariaDbFixture* SecretsTest::db_ = nullptr;
std::string* SecretsTest::dir_ = nullptr;

TEST_F(SecretsTest, PasswordInTheConnectionUrlIsNeverShown) {
  Shown s = RunPersistor("url", "connection = " + Url(kPassword));
  EXPECT_TRUE(s.reachable) << s.everything;
  EXPECT_THAT(s.everything, HasSubstr("mysql://vuser:***@127.0.0.1"));
  EXPECT_THAT(s.everything, Not(HasSubstr(kPassword)));
}

TEST_F(SecretsTest, PasswordFromAFileIsNeverShown) {
  std::string file = *dir_ + "/password";
  std::ofstream(file) << kPassword << "\n";
  Shown s =
      RunPersistor("file", absl::StrCat("connection = ", Url(""), "\npassword_file = ", file));
  EXPECT_TRUE(s.reachable) << s.everything;
  EXPECT_THAT(s.everything, Not(HasSubstr(kPassword)));
}

TEST_F(SecretsTest, PasswordFromTheEnvironmentIsNeverShown) {
  Shown s = RunPersistor("env", absl::StrCat("connection = ", Url(""), "\npassword_env = VPW"), {},
                         absl::StrCat("VPW=", kPassword));
  EXPECT_TRUE(s.reachable) << s.everything;
  EXPECT_THAT(s.everything, Not(HasSubstr(kPassword)));
}

TEST_F(SecretsTest, WrongPasswordIsReportedWithoutShowingIt) {
  Shown s = RunPersistor("wrong", "connection = " + Url(kWrongPassword));
  EXPECT_FALSE(s.reachable);
  EXPECT_THAT(s.everything, HasSubstr("mysql://vuser:***@"));
  EXPECT_THAT(s.everything, Not(HasSubstr(kWrongPassword)));
  // The same through --database_url.
  s = RunPersistor("wrong-flag", "", {"--database_url", Url(kWrongPassword)});
  EXPECT_FALSE(s.reachable);
  EXPECT_THAT(s.everything, Not(HasSubstr(kWrongPassword)));
}

TEST_F(SecretsTest, BadUrlFailsStartUpWithoutShowingThePassword) {
  for (const std::string& url :
       {absl::StrCat("mysql://vuser:", kPassword, "@127.0.0.1:notaport/vitrage"),
        absl::StrCat("mysql://vuser:", kPassword, "@127.0.0.1/"),
        absl::StrCat("postgres://vuser:", kPassword, "@127.0.0.1/vitrage"),
        absl::StrCat("mysql://vuser:", kPassword, "@127.0.0.1/vitrage?sslmode=", kPassword)}) {
    SCOPED_TRACE(url);
    std::string conf = *dir_ + "/bad.conf";
    std::ofstream(conf) << "[database]\nconnection = " << url
                        << "\n[ssl]\nallow_plaintext = true\n";
    std::string log = *dir_ + "/bad.log";
    std::remove(log.c_str());
    auto p = Process::Start(
        {BinaryDir() + "/persistor_service/vitrage-persistor", "--config", conf}, log);
    ASSERT_TRUE(p.ok());
    auto code = p->Wait(absl::Seconds(30));
    ASSERT_TRUE(code.ok());
    EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 2) << *code;
    std::string text = ReadFileOrEmpty(log);
    EXPECT_THAT(text, HasSubstr("connection"));
    EXPECT_THAT(text, Not(HasSubstr(kPassword)));
  }
}

}  // namespace
}  // namespace vitrage::testing
