#include "persistor_service/server/record_check.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "vitrage/v1/journal.pb.h"

namespace vitrage::persistor {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Fills every kind of field the record's types have, through reflection,
// so that the test follows the protos as they change.
class Filler {
 public:
  explicit Filler(uint64_t seed) : rng_(seed) {}

  void Fill(Message* m, int depth) {
    const auto* d = m->GetDescriptor();
    const Reflection* r = m->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->containing_oneof() != nullptr && Coin(2)) continue;
      if (!Coin(3)) continue;
      const int n = f->is_repeated() ? static_cast<int>(rng_() % 4) : 1;
      for (int k = 0; k < n; ++k) Set(m, r, f, depth);
    }
  }

 private:
  bool Coin(int in) { return rng_() % in != 0; }

  std::string Text() {
    static const char* kPieces[] = {"nova.host", "id", "vitrage_", "\xc3\xa9", "ok", "42", ""};
    std::string s;
    for (int i = static_cast<int>(rng_() % 4); i > 0; --i) s += kPieces[rng_() % 7];
    return s;
  }

  void Set(Message* m, const Reflection* r, const FieldDescriptor* f, int depth) {
    const bool rep = f->is_repeated();
    const uint64_t v = rng_() >> (rng_() % 64);
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        rep ? r->AddInt32(m, f, static_cast<int32_t>(v))
            : r->SetInt32(m, f, static_cast<int32_t>(v));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        rep ? r->AddInt64(m, f, static_cast<int64_t>(v))
            : r->SetInt64(m, f, static_cast<int64_t>(v));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        rep ? r->AddUInt32(m, f, static_cast<uint32_t>(v))
            : r->SetUInt32(m, f, static_cast<uint32_t>(v));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        rep ? r->AddUInt64(m, f, v) : r->SetUInt64(m, f, v);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        rep ? r->AddDouble(m, f, static_cast<double>(v) / 7) : r->SetDouble(m, f, v / 7.0);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        rep ? r->AddFloat(m, f, static_cast<float>(v)) : r->SetFloat(m, f, static_cast<float>(v));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        rep ? r->AddBool(m, f, v & 1) : r->SetBool(m, f, v & 1);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const int values = f->enum_type()->value_count();
        const int e = f->enum_type()->value(static_cast<int>(v % values))->number();
        rep ? r->AddEnumValue(m, f, e) : r->SetEnumValue(m, f, e);
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        rep ? r->AddString(m, f, Text()) : r->SetString(m, f, Text());
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth > 6) return;
        Fill(rep ? r->AddMessage(m, f) : r->MutableMessage(m, f), depth + 1);
        break;
    }
  }

  std::mt19937_64 rng_;
};

// The parser's verdict, and CheckJournalRecord's, on the same bytes.
void ExpectSameVerdict(const std::string& bytes) {
  v1::JournalRecord parsed;
  const bool want = parsed.ParseFromString(bytes);
  RecordHead head;
  const bool got = CheckJournalRecord(bytes, &head);
  ASSERT_EQ(got, want) << absl::CEscape(bytes);
  if (want) {
    EXPECT_EQ(head.seq, parsed.seq());
    EXPECT_EQ(head.epoch, parsed.epoch());
  }
}

TEST(RecordCheckTest, AgreesWithTheParserOnRecordsAndTheirMutations) {
  std::mt19937_64 rng(20261207);
  int valid = 0, invalid = 0;
  for (int i = 0; i < 3000; ++i) {
    Filler filler(rng());
    v1::JournalRecord rec;
    filler.Fill(&rec, 0);
    rec.set_seq(rng() % 1000000);
    rec.set_epoch(rng() % 100);
    const std::string bytes = rec.SerializeAsString();
    RecordHead head;
    ASSERT_TRUE(CheckJournalRecord(bytes, &head)) << i;
    EXPECT_EQ(head.seq, rec.seq());
    EXPECT_EQ(head.epoch, rec.epoch());
    ++valid;
    // Mutations: a byte changed, cut short, bytes inserted or appended.
    for (int k = 0; k < 20 && !bytes.empty(); ++k) {
      std::string m = bytes;
      const size_t at = rng() % m.size();
      switch (rng() % 5) {
        case 0:
          m[at] = static_cast<char>(rng());
          break;
        case 1:
          m.resize(at);
          break;
        case 2:
          m.insert(at, 1, static_cast<char>(rng()));
          break;
        case 3:
          m[at] ^= static_cast<char>(1 << (rng() % 8));
          break;
        default:
          m += std::string(1 + rng() % 3, static_cast<char>(rng()));
          break;
      }
      v1::JournalRecord p;
      invalid += p.ParseFromString(m) ? 0 : 1;
      ExpectSameVerdict(m);
      if (HasFatalFailure()) return;
    }
  }
  // Both verdicts were exercised.
  EXPECT_GT(valid, 0);
  EXPECT_GT(invalid, 1000);
}

TEST(RecordCheckTest, RefusesWhatTheParserRefuses) {
  // field 1 (seq) as a 4 GiB string; a 0 tag; field number 0; wire type 7;
  // an end group with no group; a group that never ends; a varint of 11
  // bytes; invalid UTF-8 in a string field (event_kind, 6); nesting past
  // 100 deep (a group inside a group ...).
  std::string deep;
  for (int i = 0; i < 101; ++i) deep += "\x7b";  // field 15, start group
  for (int i = 0; i < 101; ++i) deep += "\x7c";  // field 15, end group
  for (const std::string& bad :
       {std::string("\x0a\xff\xff\xff\xff\x0f", 6), std::string("\x08\x01\x00", 3),
        std::string("\x02\x00", 2), std::string("\x0f", 1), std::string("\x0c", 1),
        std::string("\x0b\x08\x01", 3),
        std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),
        std::string("\x32\x02\xc3\x28", 4), deep}) {
    ExpectSameVerdict(bad);
    RecordHead head;
    EXPECT_FALSE(CheckJournalRecord(bad, &head)) << absl::CEscape(bad);
  }
  // And takes what it takes: empty, an unknown field, seq with the wrong
  // wire type (kept as unknown), a group nested 99 deep.
  std::string nested;
  for (int i = 0; i < 99; ++i) nested += "\x7b";
  for (int i = 0; i < 99; ++i) nested += "\x7c";
  for (const std::string& ok :
       {std::string(), std::string("\x08\x05\x10\x02", 4), std::string("\xf8\x07\x01", 3),
        std::string("\x0d\x01\x02\x03\x04", 5), nested}) {
    ExpectSameVerdict(ok);
  }
  RecordHead head;
  ASSERT_TRUE(CheckJournalRecord(std::string("\x08\x05\x10\x02", 4), &head));
  EXPECT_EQ(head.seq, 5u);
  EXPECT_EQ(head.epoch, 2u);
}

}  // namespace
}  // namespace vitrage::persistor
