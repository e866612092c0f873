// vitrage-mariadb: runs a private MariaDB (the test fixture) in the
// foreground for the local stack and for people. Prints the connection URL
// on stdout, then waits for SIGTERM/SIGINT and stops the server.
//
//   vitrage-mariadb [--dir DIR] [--database NAME]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>

#include "common/testing/mariadb_fixture.h"

int main(int argc, char** argv) {
  vitrage::testing::MariaDbFixture::Options opts;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) {
      opts.dir = argv[++i];
    } else if (!std::strcmp(argv[i], "--database") && i + 1 < argc) {
      opts.database = argv[++i];
    } else {
      std::cerr << "usage: vitrage-mariadb [--dir DIR] [--database NAME]\n";
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  vitrage::testing::MariaDbFixture db(opts);
  if (auto s = db.Start(); !s.ok()) {
    std::cerr << "vitrage-mariadb: " << s << "\n";
    return 1;
  }
  std::cout << db.url() << std::endl;
  std::cerr << "vitrage-mariadb: mariadbd pid " << db.pid() << " in " << db.dir() << " (socket "
            << db.socket() << ")" << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "vitrage-mariadb: stopping" << std::endl;
  (void)db.Stop();
  return 0;
}
