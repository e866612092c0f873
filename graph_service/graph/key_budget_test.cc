#include "graph_service/graph/key_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "graph_service/graph/value.h"

namespace vitrage::graph {
namespace {

using ::testing::HasSubstr;

v1::Event WithKeys(absl::string_view prefix, int n) {
  v1::Event e;
  for (int i = 0; i < n; ++i) {
    auto* p = e.mutable_fields()->add_entries();
    p->set_key(absl::StrCat(prefix, i));
    p->mutable_value()->set_int_value(i);
  }
  return e;
}

TEST(KeyBudgetTest, RefusesTheFirstKeyBeyondTheLimitAndInternsNothing) {
  const uint32_t before = KeyCount();
  KeyBudget budget(before + 2);
  absl::Status s = budget.Add(WithKeys("budget_refuse_", 3));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(
      s.message(),
      HasSubstr(absl::StrCat("property key \"budget_refuse_2\" would be distinct key ", before + 3,
                             "; the limit is ", before + 2, " ([limits] max_distinct_keys")));
  EXPECT_EQ(KeyCount(), before);
  EXPECT_FALSE(KeyIsInterned("budget_refuse_0"));
}

TEST(KeyBudgetTest, KnownKeysAndRepeatsCostNothing) {
  InternKey("budget_known_0");
  InternKey("budget_known_1");
  const uint32_t before = KeyCount();
  KeyBudget budget(before + 1);
  v1::Event e = WithKeys("budget_known_", 2);
  EXPECT_TRUE(budget.Add(e).ok());
  // A new key, in a nested map, twice, and in a second event: counted once.
  auto* nested = e.mutable_fields()->add_entries();
  nested->set_key("budget_known_0");
  auto* m = nested->mutable_value()->mutable_map_value();
  m->add_entries()->set_key("budget_nested_new");
  m->add_entries()->set_key("budget_nested_new");
  EXPECT_TRUE(budget.Add(e).ok());
  EXPECT_TRUE(budget.Add(e).ok());
  EXPECT_EQ(budget.new_keys(), 1u);
  v1::Event more = WithKeys("budget_other_", 1);
  EXPECT_THAT(budget.Add(more).message(), HasSubstr("\"budget_other_0\""));
}

TEST(KeyBudgetTest, JsonBodyKeysCountAtEveryLevel) {
  const uint32_t before = KeyCount();
  KeyBudget budget(before + 2);
  v1::Event e;
  e.set_json(R"({"budget_json_a": [{"budget_json_b": 1}], "budget_json_c": {"x": 2}})");
  absl::Status s = budget.Add(e);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(KeyCount(), before);
}

// The key table's last slot: a full table hands out kKeyTableFull and
// counts the key, instead of aborting the process.
TEST(KeyTableTest, AFullTableCountsOverflowsInsteadOfAborting) {
  const uint64_t overflows = KeyTableOverflows();
  SetKeyTableCapacityForTest(KeyCount() + 2);
  KeyId a = InternKey("key_table_test_fits");
  KeyId b = InternKey("key_table_test_overflows_1");
  KeyId c = InternKey("key_table_test_overflows_2");
  SetKeyTableCapacityForTest(kKeyTableCapacity);
  EXPECT_NE(a, kKeyTableFull);
  EXPECT_EQ(KeyName(a), "key_table_test_fits");
  EXPECT_EQ(b, kKeyTableFull);
  EXPECT_EQ(c, kKeyTableFull);
  EXPECT_EQ(KeyName(b), "vitrage_key_table_full");
  EXPECT_EQ(KeyTableOverflows(), overflows + 2);
  EXPECT_FALSE(KeyIsInterned("key_table_test_overflows_1"));
  // With room again, the key gets its own id.
  KeyId b2 = InternKey("key_table_test_overflows_1");
  EXPECT_NE(b2, kKeyTableFull);
  EXPECT_EQ(KeyName(b2), "key_table_test_overflows_1");
}

}  // namespace
}  // namespace vitrage::graph
