#include "persistor_service/mysql/log_pack.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"

namespace vitrage::persistor::mysql {
namespace {

using ::testing::HasSubstr;

std::vector<LogRow> Rows(uint64_t first, size_t n, size_t bytes, uint64_t epoch = 3) {
  std::vector<LogRow> rows(n);
  for (size_t i = 0; i < n; ++i) {
    rows[i].seq = first + i;
    rows[i].epoch = epoch;
    // Every byte value, and lengths that need 1, 2 and 3 varint bytes.
    const size_t len = i % 3 == 0 ? bytes : (i % 3 == 1 ? 0 : bytes * 200 + 1);
    for (size_t b = 0; b < len; ++b) rows[i].bytes.push_back(static_cast<char>((b + i) % 256));
    rows[i].crc32c = crc32c::Value(rows[i].bytes);
  }
  return rows;
}

std::string Pack(const std::vector<LogRow>& rows) {
  std::vector<const LogRow*> p = PointersTo(rows);
  std::string out;
  EncodePack(p.data(), p.size(), &out);
  return out;
}

TEST(LogPackTest, RoundTripsEveryRecordAndRange) {
  const std::vector<LogRow> rows = Rows(10, 7, 130);
  const std::string pack = Pack(rows);
  const uint32_t crc = crc32c::Value(pack);
  std::vector<LogRow> all;
  ASSERT_TRUE(DecodeRow(10, 16, 3, crc, pack, 0, 100, &all).ok());
  ASSERT_EQ(all.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(all[i].seq, rows[i].seq);
    EXPECT_EQ(all[i].epoch, 3u);
    EXPECT_EQ(all[i].bytes, rows[i].bytes) << i;
    EXPECT_EQ(all[i].crc32c, rows[i].crc32c) << i;
  }
  std::vector<LogRow> middle;
  ASSERT_TRUE(DecodeRow(10, 16, 3, crc, pack, 12, 13, &middle).ok());
  ASSERT_EQ(middle.size(), 2u);
  EXPECT_EQ(middle[0].seq, 12u);
  EXPECT_EQ(middle[1].bytes, rows[3].bytes);
}

// Rows written before schema version 2 (last_seq 0) and one-record rows
// are the record itself, its stored CRC passed on unchecked.
TEST(LogPackTest, OneRecordRowIsTheRecord) {
  std::vector<LogRow> out;
  ASSERT_TRUE(DecodeRow(5, 0, 2, 0x1234, "raw", 1, 9, &out).ok());
  ASSERT_TRUE(DecodeRow(6, 6, 2, 0x99, "raw6", 1, 9, &out).ok());
  ASSERT_TRUE(DecodeRow(10, 0, 2, 0x99, "outside", 1, 9, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].seq, 5u);
  EXPECT_EQ(out[0].crc32c, 0x1234u);
  EXPECT_EQ(out[0].bytes, "raw");
  EXPECT_EQ(out[1].seq, 6u);
}

TEST(LogPackTest, DamagedPacksAreDataLossNamingTheRow) {
  const std::vector<LogRow> rows = Rows(1, 4, 50);
  const std::string pack = Pack(rows);
  std::vector<LogRow> out = {LogRow{}};
  auto decode = [&](uint64_t last, const std::string& bytes, bool fix_crc = true) {
    const uint32_t crc = fix_crc ? crc32c::Value(bytes) : crc32c::Value(pack);
    return DecodeRow(1, last, 1, crc, bytes, 1, 100, &out);
  };
  absl::Status s = decode(4, pack + "x", /*fix_crc=*/false);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("log records seq 1..4 (one row): crc mismatch"));
  s = decode(5, pack);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("holds 4 records, not 5"));
  s = decode(3, pack);
  EXPECT_THAT(s.message(), HasSubstr("holds more than 3 records"));
  s = decode(4, pack.substr(0, pack.size() - 1));
  EXPECT_THAT(s.message(), HasSubstr("record seq 4 claims"));
  s = decode(4, pack + "\xff\xff\xff\xff\xff\x01");
  EXPECT_THAT(s.message(), HasSubstr("record seq 5 has a malformed length"));
  // Nothing of a damaged row is handed out.
  EXPECT_EQ(out.size(), 1u);
}

// Rows damaged at random (a stored row's CRC matches, as if the damage
// happened before the CRC was computed, so the parse itself is exercised):
// never a crash or a read past the bytes (ASan build), and either the
// right records or DATA_LOSS with nothing handed out.
TEST(LogPackTest, RandomlyDamagedPacksNeverCrash) {
  const std::vector<LogRow> rows = Rows(100, 9, 40);
  const std::string pack = Pack(rows);
  std::mt19937 rng(20261207);
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = pack;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      switch (rng() % 3) {
        case 0:
          if (!bytes.empty()) bytes[rng() % bytes.size()] = static_cast<char>(rng());
          break;
        case 1:
          bytes.resize(rng() % (bytes.size() + 1));
          break;
        default:
          bytes.insert(rng() % (bytes.size() + 1), 1, static_cast<char>(rng()));
      }
    }
    std::vector<LogRow> out;
    absl::Status s = DecodeRow(100, 108, 3, crc32c::Value(bytes), bytes, 0, 1000, &out);
    if (s.ok()) {
      ASSERT_EQ(out.size(), 9u);
    } else {
      ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
      ASSERT_TRUE(out.empty());
      ++refused;
    }
  }
  EXPECT_GT(refused, 10000);
}

// Journal records repeat their property names: what a row stores is the
// pack zstd-compressed, 0x00 first, unless that is not smaller.
std::vector<LogRow> Alike(uint64_t first, size_t n) {
  std::vector<LogRow> rows(n);
  for (size_t i = 0; i < n; ++i) {
    rows[i].seq = first + i;
    rows[i].epoch = 3;
    rows[i].bytes = absl::StrCat("vitrage_type nova.instance vitrage_category RESOURCE id vm-", i,
                                 " state ACTIVE host_id host-", i % 4);
    rows[i].crc32c = crc32c::Value(rows[i].bytes);
  }
  return rows;
}

std::string Stored(const std::vector<LogRow>& rows) {
  std::vector<const LogRow*> p = PointersTo(rows);
  std::string out = "stale";
  EncodeStoredPack(p.data(), p.size(), &out);
  return out;
}

TEST(LogPackTest, StoredPacksAreCompressedWhenThatIsSmaller) {
  const std::vector<LogRow> rows = Alike(20, 50);
  const std::string stored = Stored(rows);
  ASSERT_FALSE(stored.empty());
  EXPECT_EQ(stored[0], kCompressedPack);
  EXPECT_LT(stored.size() * 3, Pack(rows).size());
  std::vector<LogRow> out;
  ASSERT_TRUE(DecodeRow(20, 69, 3, crc32c::Value(stored), stored, 0, 100, &out).ok());
  ASSERT_EQ(out.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(out[i].seq, rows[i].seq);
    EXPECT_EQ(out[i].bytes, rows[i].bytes) << i;
    EXPECT_EQ(out[i].crc32c, rows[i].crc32c) << i;
  }
  // Bytes that do not compress are stored as the plain pack.
  std::vector<LogRow> noise = Rows(1, 2, 20);
  std::mt19937 rng(7);
  for (LogRow& r : noise) {
    r.bytes.resize(40);
    for (char& c : r.bytes) c = static_cast<char>(rng() | 1);
    r.crc32c = crc32c::Value(r.bytes);
  }
  EXPECT_EQ(Stored(noise), Pack(noise));
  // A plain pack starting with 0x00 would read as compressed: a pack whose
  // first record is empty (never so in a journal) is always compressed.
  std::vector<LogRow> empty_first = Rows(1, 2, 20);
  empty_first[0].bytes.clear();
  const std::string ef = Stored(empty_first);
  EXPECT_EQ(ef[0], kCompressedPack);
  out.clear();
  ASSERT_TRUE(DecodeRow(1, 2, 3, crc32c::Value(ef), ef, 0, 100, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].bytes, "");
  EXPECT_EQ(out[1].bytes, empty_first[1].bytes);
}

TEST(LogPackTest, DamagedCompressedPacksAreDataLoss) {
  const std::string stored = Stored(Alike(1, 40));
  ASSERT_EQ(stored[0], kCompressedPack);
  std::vector<LogRow> out;
  auto decode = [&](const std::string& bytes) {
    return DecodeRow(1, 40, 3, crc32c::Value(bytes), bytes, 0, 100, &out);
  };
  absl::Status s = decode(stored.substr(0, stored.size() - 3));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("log records seq 1..40 (one row): the compressed pack"));
  s = decode(std::string(1, kCompressedPack) + "not zstd at all");
  EXPECT_THAT(s.message(), HasSubstr("has no valid zstd frame"));
  s = decode(std::string(1, kCompressedPack));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  // A frame that claims more than any pack holds is not decompressed.
  std::string huge(kMaxPackBytes + 1, 'a');
  std::string frame(ZSTD_compressBound(huge.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), huge.data(), huge.size(), 1));
  s = decode(std::string(1, kCompressedPack) + frame);
  EXPECT_THAT(s.message(), HasSubstr("the compressed pack claims 1048577 bytes"));
  // A frame that holds a damaged pack.
  std::string bad_pack = Pack(Alike(1, 40));
  bad_pack.pop_back();
  frame.assign(ZSTD_compressBound(bad_pack.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), bad_pack.data(), bad_pack.size(), 1));
  s = decode(std::string(1, kCompressedPack) + frame);
  EXPECT_THAT(s.message(), HasSubstr("record seq 40 claims"));
  EXPECT_TRUE(out.empty());
  // Damaged at random: DATA_LOSS or the right records, never a crash.
  std::mt19937 rng(20261208);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = stored;
    bytes[1 + rng() % (bytes.size() - 1)] = static_cast<char>(rng());
    if (rng() % 2) bytes.resize(1 + rng() % bytes.size());
    out.clear();
    s = decode(bytes);
    if (s.ok()) {
      ASSERT_EQ(out.size(), 40u);
    } else {
      ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
      ASSERT_TRUE(out.empty());
    }
  }
}

TEST(LogPackTest, PacksStopAtTheirLimitsAndAtAnEpochChange) {
  std::vector<LogRow> small = Rows(1, kMaxPackRecords + 10, 1);
  std::vector<const LogRow*> p = PointersTo(small);
  EXPECT_EQ(NextPackSize(p.data(), p.size()), kMaxPackRecords);
  EXPECT_EQ(NextPackSize(p.data(), 1), 1u);
  EXPECT_EQ(NextPackSize(p.data(), 0), 0u);
  std::vector<LogRow> big(5);
  for (auto& r : big) r.bytes.assign(kMaxPackBytes / 3, 'b');
  p = PointersTo(big);
  EXPECT_EQ(NextPackSize(p.data(), p.size()), 2u);
  big[0].bytes.assign(kMaxPackBytes * 2, 'B');  // larger than a pack: alone
  EXPECT_EQ(NextPackSize(p.data(), p.size()), 1u);
  std::vector<LogRow> epochs = Rows(1, 6, 10);
  epochs[4].epoch = 4;
  p = PointersTo(epochs);
  EXPECT_EQ(NextPackSize(p.data(), p.size()), 4u);
}

}  // namespace
}  // namespace vitrage::persistor::mysql
