// How journal records sit in graph_log rows (schema version 2).
//
// A row covers the records seq..last_seq:
//
//   last_seq <= seq   one record (rows written by schema version 1 have
//                     last_seq = 0): `record` is the record's bytes and
//                     `crc32c` their CRC32C, as before version 2.
//   last_seq >  seq   a pack of last_seq - seq + 1 consecutive records,
//                     all of one epoch: `record` is, for each record in seq
//                     order, its length as a varint (LEB128, at most 5
//                     bytes) and then its bytes; `crc32c` is the CRC32C of
//                     the whole `record` column. Since schema version 3
//                     `record` may instead be the byte 0x00 followed by
//                     one zstd frame of that encoding (written when it is
//                     smaller, which is nearly always: records repeat
//                     their property names); the CRC is still of the
//                     column as stored. A plain pack never starts with
//                     0x00: that would be an empty first record.
//
// A group commit writes its records as packs of at most kMaxPackRecords
// records and kMaxPackBytes bytes (a single record as a one-record row):
// MariaDB's cost is mostly per row, so a pack of 1,000 records costs it
// about what one record did. Rows never overlap: a commit inserts
// durable_seq + 1 .. its last seq and moves durable_seq there in the same
// transaction (store.h).
#ifndef VITRAGE_PERSISTOR_SERVICE_MYSQL_LOG_PACK_H_
#define VITRAGE_PERSISTOR_SERVICE_MYSQL_LOG_PACK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vitrage::persistor::mysql {

// One journal record as stored: its deterministic serialization + CRC32C.
struct LogRow {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  uint32_t crc32c = 0;
  std::string bytes;
};

// Pointers to each of `rows`, the shape AppendLog and EncodePack take.
inline std::vector<const LogRow*> PointersTo(const std::vector<LogRow>& rows) {
  std::vector<const LogRow*> out;
  out.reserve(rows.size());
  for (const LogRow& r : rows) out.push_back(&r);
  return out;
}

inline constexpr size_t kMaxPackRecords = 4096;
inline constexpr size_t kMaxPackBytes = 1 << 20;

// How many of rows[0..n) go into the next row: at least 1, at most
// kMaxPackRecords, the records' bytes within kMaxPackBytes (unless the
// first alone is larger), one epoch.
size_t NextPackSize(const LogRow* const* rows, size_t n);

// Appends the pack encoding of rows[0..n) to *out (n >= 2).
void EncodePack(const LogRow* const* rows, size_t n, std::string* out);

// The first byte of a compressed pack.
inline constexpr char kCompressedPack = '\0';

// Sets *out to what a row stores for the pack of rows[0..n) (n >= 2): the
// compressed pack, or the plain one when compression does not make it
// smaller. MariaDB's cost of a group commit grows with the bytes it
// writes (redo log, pages, the client packet); zstd's fastest level
// costs the persistor less than it saves there, and the journal takes a
// tenth of the disk.
void EncodeStoredPack(const LogRow* const* rows, size_t n, std::string* out);

// Decodes the row (seq, last_seq, epoch, crc32c, record) and appends its
// records with from <= seq <= to to *out, each with its own CRC32C. A
// damaged row is DATA_LOSS naming its seqs and what is wrong (CRC, a
// compressed pack that does not decompress or is larger than a pack can
// be, a length past the end, too few or too many records); nothing is
// appended then.
absl::Status DecodeRow(uint64_t seq, uint64_t last_seq, uint64_t epoch, uint32_t crc32c,
                       std::string record, uint64_t from, uint64_t to, std::vector<LogRow>* out);

}  // namespace vitrage::persistor::mysql

#endif  // VITRAGE_PERSISTOR_SERVICE_MYSQL_LOG_PACK_H_
