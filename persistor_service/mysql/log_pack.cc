#include "persistor_service/mysql/log_pack.h"

#include <zstd.h>

#include <memory>

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

// zstd's fastest level: most of the gain (records repeat their property
// names and values), the least CPU.
constexpr int kPackLevel = 1;

ZSTD_CCtx* ThreadCompressor() {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> c(ZSTD_createCCtx(),
                                                                    ZSTD_freeCCtx);
  return c.get();
}

ZSTD_DCtx* ThreadDecompressor() {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> d(ZSTD_createDCtx(),
                                                                    ZSTD_freeDCtx);
  return d.get();
}

// The plain pack inside a compressed one, or why there is none.
absl::Status Decompress(const std::string& what, const std::string& stored, std::string* plain) {
  const char* frame = stored.data() + 1;
  const size_t frame_size = stored.size() - 1;
  const unsigned long long size = ZSTD_getFrameContentSize(frame, frame_size);
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return absl::DataLossError(absl::StrCat(what, ": the compressed pack has no valid zstd frame"));
  }
  // No plain pack is larger: NextPackSize keeps each record's bytes and
  // 5 for its length within kMaxPackBytes.
  if (size > kMaxPackBytes || size == 0) {
    return absl::DataLossError(absl::StrCat(what, ": the compressed pack claims ", size,
                                            " bytes (a pack holds 1 to ", kMaxPackBytes, ")"));
  }
  plain->resize(size);
  const size_t n =
      ZSTD_decompressDCtx(ThreadDecompressor(), plain->data(), plain->size(), frame, frame_size);
  if (ZSTD_isError(n) || n != size) {
    return absl::DataLossError(absl::StrCat(what, ": the compressed pack does not decompress (",
                                            ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short", ")"));
  }
  return absl::OkStatus();
}

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

void EncodeStoredPack(const LogRow* const* rows, size_t n, std::string* out) {
  thread_local std::string plain;
  plain.clear();
  EncodePack(rows, n, &plain);
  out->resize(1 + ZSTD_compressBound(plain.size()));
  const size_t z = ZSTD_compressCCtx(ThreadCompressor(), out->data() + 1, out->size() - 1,
                                     plain.data(), plain.size(), kPackLevel);
  // Plain when that is smaller, unless the first record is empty (never
  // so in a journal): then the plain pack would start with the marker.
  if (!ZSTD_isError(z) && 1 + z >= plain.size() && plain[0] != kCompressedPack) {
    out->assign(plain);
    return;
  }
  (*out)[0] = kCompressedPack;
  out->resize(1 + z);
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
  if (!record.empty() && record[0] == kCompressedPack) {
    std::string plain;
    if (absl::Status s = Decompress(what, record, &plain); !s.ok()) return s;
    record = std::move(plain);
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
