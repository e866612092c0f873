// vitrage-galera: runs a private 3-node MariaDB Galera cluster on loopback
// (the test fixture) in the foreground, for benchmarks and people. Prints
// one connection URL per node on stdout, then waits for SIGTERM/SIGINT and
// stops the nodes by pid.
//
//   vitrage-galera [--dir DIR] [--database NAME] [--nodes N]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "common/testing/galera_fixture.h"

int main(int argc, char** argv) {
  vitrage::testing::GaleraCluster::Options opts;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) {
      opts.dir = argv[++i];
    } else if (!std::strcmp(argv[i], "--database") && i + 1 < argc) {
      opts.database = argv[++i];
    } else if (!std::strcmp(argv[i], "--nodes") && i + 1 < argc) {
      opts.nodes = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: vitrage-galera [--dir DIR] [--database NAME] [--nodes N]\n";
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  vitrage::testing::GaleraCluster cluster(opts);
  if (auto s = cluster.Start(); !s.ok()) {
    std::cerr << "vitrage-galera: " << s << "\n";
    return 1;
  }
  for (int i = 0; i < cluster.size(); ++i) {
    std::cout << cluster.url(i) << std::endl;
    std::cerr << "vitrage-galera: node " << i << " mariadbd pid " << cluster.pid(i)
              << ", error log " << cluster.error_log(i) << std::endl;
  }
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "vitrage-galera: stopping" << std::endl;
  (void)cluster.Stop();
  return 0;
}
