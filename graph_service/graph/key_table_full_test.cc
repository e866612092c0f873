// Fills the process's real key table (4,194,304 keys, ~300 MB) with only
// InternKey: it used to abort the process (CHECK) at the capacity. Its own
// binary: the table stays full for the rest of the process.
#include <gtest/gtest.h>

#include <cstdio>

#include "graph_service/graph/value.h"

namespace vitrage::graph {
namespace {

TEST(KeyTableFullTest, InterningPastTheCapacityDoesNotAbort) {
  char name[32];
  uint32_t i = 0;
  while (KeyCount() < kKeyTableCapacity - 1) {
    snprintf(name, sizeof(name), "k%u", i++);
    InternKey(name);
  }
  snprintf(name, sizeof(name), "k%u", i++);
  KeyId past = InternKey(name);
  snprintf(name, sizeof(name), "k%u", i++);
  KeyId past2 = InternKey(name);
  EXPECT_EQ(past, past2);  // both got the one overflow id
  EXPECT_EQ(KeyName(past), "vitrage_key_table_full");
  EXPECT_EQ(KeyTableOverflows(), 2u);
  EXPECT_EQ(KeyName(InternKey("k0")), "k0");  // known keys still resolve
}

}  // namespace
}  // namespace vitrage::graph
