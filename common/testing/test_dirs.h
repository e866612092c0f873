// Where a test finds its data: the generated workloads in the build tree
// and the data kept in the repository's testdata/. ctest gives every test
// VITRAGE_SOURCE_DIR and VITRAGE_BINARY_DIR (vitrage_test in the top
// CMakeLists.txt). Header only, so that tests of any room can use it
// without linking common/testing.
//
// A test run without them (the binary started by hand) stops at the first
// use with a message that says how to run it; it never guesses a path.
#ifndef VITRAGE_COMMON_TESTING_TEST_DIRS_H_
#define VITRAGE_COMMON_TESTING_TEST_DIRS_H_

#include <cstdio>
#include <cstdlib>
#include <string>

namespace vitrage::testing {

// The value of environment variable `name`. REQUIRES: set and not empty;
// otherwise prints what to do and exits with status 2.
inline std::string RequiredEnvDir(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    std::fprintf(stderr,
                 "%s is not set: run this test through ctest (ctest --test-dir "
                 "BUILD_DIR -R "
                 "NAME), or set VITRAGE_SOURCE_DIR=<repository> and "
                 "VITRAGE_BINARY_DIR=<build directory>\n",
                 name);
    std::exit(2);
  }
  return v;
}

// The repository's testdata/ (ends in '/').
inline std::string TestDataDir() { return RequiredEnvDir("VITRAGE_SOURCE_DIR") + "/testdata/"; }

// The workloads the build generates (graph_service/CMakeLists.txt,
// make_workload): BUILD_DIR/workload/ (ends in '/').
inline std::string WorkloadDir() { return RequiredEnvDir("VITRAGE_BINARY_DIR") + "/workload/"; }

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_TEST_DIRS_H_
