// MD5 (RFC 1321) of short strings: vitrage_cached_id is the md5 hex of a
// vertex's natural key ("category:type:id"). The processor mints it and the
// snapshot reader recomputes it (snapshot/format.h, version 4).
#ifndef VITRAGE_COMMON_MD5_H_
#define VITRAGE_COMMON_MD5_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace vitrage {

// MD5 of `s` in one call: EVP_Digest's provider lookup and context set-up
// cost several times the hashing of a natural key (~50 bytes).
// processor_test's Md5HexTest checks it against OpenSSL.
void Md5(absl::string_view s, unsigned char out[16]);
// Lowercase hex of Md5(s) (32 characters).
std::string Md5Hex(absl::string_view s);

// The longest string Md5x4 takes: two blocks with their padding (a
// natural key with a UUID id needs two).
inline constexpr size_t kMd5x4MaxBytes = 119;
// Md5 of four strings at once, in the four lanes of 128-bit vector
// registers: about four times the throughput of four Md5 calls (MD5's
// steps depend on each other, so one hash leaves most of a core idle).
// REQUIRES: s[i].size() <= kMd5x4MaxBytes.
void Md5x4(const absl::string_view s[4], unsigned char out[4][16]);
// Md5 of each of the `n` strings s[i] into out[16 * i, 16 * i + 16): four
// at a time with Md5x4 where at least two of a group of four fit it, one
// at a time otherwise (and for any string longer than kMd5x4MaxBytes).
void Md5Batch(const absl::string_view* s, size_t n, unsigned char* out);

}  // namespace vitrage

#endif  // VITRAGE_COMMON_MD5_H_
