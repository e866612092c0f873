#include "persistor_service/mysql/log_pack.h"

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"

namespace vitrage::persistor::mysql {
namespace {

void PutVarint32(uint32_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a varint of at most 5 bytes at data[*pos]; false if it runs past
// `size` or is longer.
bool GetVarint32(const char* data, size_t size, size_t* pos, uint32_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 28 && *pos < size; shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(data[(*pos)++]);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      if (result > UINT32_MAX) return false;
      *v = static_cast<uint32_t>(result);
      return true;
    }
  }
  return false;
}

std::string Hex32(uint32_t v) { return absl::StrCat("0x", absl::Hex(v, absl::kZeroPad8)); }

}  // namespace

size_t NextPackSize(const LogRow* const* rows, size_t n) {
  if (n == 0) return 0;
  size_t bytes = rows[0]->bytes.size();
  size_t k = 1;
  while (k < n && k < kMaxPackRecords && rows[k]->epoch == rows[0]->epoch &&
         bytes + rows[k]->bytes.size() + 5 <= kMaxPackBytes) {
    bytes += rows[k]->bytes.size() + 5;
    ++k;
  }
  return k;
}

void EncodePack(const LogRow* const* rows, size_t n, std::string* out) {
  size_t bytes = 0;
  for (size_t i = 0; i < n; ++i) bytes += rows[i]->bytes.size() + 5;
  out->reserve(out->size() + bytes);
  for (size_t i = 0; i < n; ++i) {
    PutVarint32(static_cast<uint32_t>(rows[i]->bytes.size()), out);
    out->append(rows[i]->bytes);
  }
}

absl::Status DecodeRow(uint64_t seq, uint64_t last_seq, uint64_t epoch, uint32_t crc32c,
                       std::string record, uint64_t from, uint64_t to, std::vector<LogRow>* out) {
  if (last_seq <= seq) {
    // One record; its CRC is checked by the reader, which names the seq.
    if (seq >= from && seq <= to) {
      out->push_back(LogRow{seq, epoch, crc32c, std::move(record)});
    }
    return absl::OkStatus();
  }
  const std::string what = absl::StrCat("log records seq ", seq, "..", last_seq, " (one row)");
  const uint32_t computed = crc32c::Value(record);
  if (computed != crc32c) {
    return absl::DataLossError(absl::StrCat(what, ": crc mismatch (stored ", Hex32(crc32c),
                                            ", computed ", Hex32(computed), ")"));
  }
  const size_t size_before = out->size();
  size_t pos = 0;
  uint64_t s = seq;
  absl::Status damaged;
  while (pos < record.size()) {
    uint32_t len = 0;
    if (!GetVarint32(record.data(), record.size(), &pos, &len)) {
      damaged = absl::DataLossError(
          absl::StrCat(what, ": record seq ", s, " has a malformed length at byte ", pos));
      break;
    }
    if (len > record.size() - pos) {
      damaged = absl::DataLossError(absl::StrCat(what, ": record seq ", s, " claims ", len,
                                                 " bytes but ", record.size() - pos, " are left"));
      break;
    }
    if (s > last_seq) {
      damaged = absl::DataLossError(
          absl::StrCat(what, ": holds more than ", last_seq - seq + 1, " records"));
      break;
    }
    if (s >= from && s <= to) {
      absl::string_view bytes(record.data() + pos, len);
      out->push_back(
          LogRow{s, epoch, crc32c::Value(bytes.data(), bytes.size()), std::string(bytes)});
    }
    pos += len;
    ++s;
  }
  if (damaged.ok() && s != last_seq + 1) {
    damaged = absl::DataLossError(
        absl::StrCat(what, ": holds ", s - seq, " records, not ", last_seq - seq + 1));
  }
  if (!damaged.ok()) out->resize(size_before);
  return damaged;
}

}  // namespace vitrage::persistor::mysql
