#include "common/md5.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace vitrage {
namespace {

// The four rounds' functions (RFC 1321, 3.4), for one word or a vector of
// four (GCC vector extensions: the operators apply lane by lane).
template <typename W>
inline W F(W x, W y, W z) {
  return z ^ (x & (y ^ z));
}
template <typename W>
inline W G(W x, W y, W z) {
  return y ^ (z & (x ^ y));
}
template <typename W>
inline W H(W x, W y, W z) {
  return x ^ y ^ z;
}
template <typename W>
inline W I(W x, W y, W z) {
  return y ^ (x | ~z);
}
template <typename W>
inline W Rotl(W x, int c) {
  return (x << c) | (x >> (32 - c));
}

typedef uint32_t Lanes __attribute__((vector_size(16)));

template <typename W>
inline W Splat(uint32_t t) {
  return W{} + t;  // a vector plus a scalar adds it to every lane
}

#define VITRAGE_MD5_STEP(f, a, b, c, d, x, t, s) a = b + Rotl(a + f(b, c, d) + (x) + Splat<W>(t), s)

// One 64-byte block (or four, one per lane), every step written out: the
// compiler keeps the state in registers (a loop with a branch per step ran
// at about half the speed). `m`: the block's 16 little-endian words.
template <typename W>
void Block(W h[4], const W m[16]) {
  W a = h[0], b = h[1], c = h[2], d = h[3];
  VITRAGE_MD5_STEP(F, a, b, c, d, m[0], 0xd76aa478, 7);
  VITRAGE_MD5_STEP(F, d, a, b, c, m[1], 0xe8c7b756, 12);
  VITRAGE_MD5_STEP(F, c, d, a, b, m[2], 0x242070db, 17);
  VITRAGE_MD5_STEP(F, b, c, d, a, m[3], 0xc1bdceee, 22);
  VITRAGE_MD5_STEP(F, a, b, c, d, m[4], 0xf57c0faf, 7);
  VITRAGE_MD5_STEP(F, d, a, b, c, m[5], 0x4787c62a, 12);
  VITRAGE_MD5_STEP(F, c, d, a, b, m[6], 0xa8304613, 17);
  VITRAGE_MD5_STEP(F, b, c, d, a, m[7], 0xfd469501, 22);
  VITRAGE_MD5_STEP(F, a, b, c, d, m[8], 0x698098d8, 7);
  VITRAGE_MD5_STEP(F, d, a, b, c, m[9], 0x8b44f7af, 12);
  VITRAGE_MD5_STEP(F, c, d, a, b, m[10], 0xffff5bb1, 17);
  VITRAGE_MD5_STEP(F, b, c, d, a, m[11], 0x895cd7be, 22);
  VITRAGE_MD5_STEP(F, a, b, c, d, m[12], 0x6b901122, 7);
  VITRAGE_MD5_STEP(F, d, a, b, c, m[13], 0xfd987193, 12);
  VITRAGE_MD5_STEP(F, c, d, a, b, m[14], 0xa679438e, 17);
  VITRAGE_MD5_STEP(F, b, c, d, a, m[15], 0x49b40821, 22);
  VITRAGE_MD5_STEP(G, a, b, c, d, m[1], 0xf61e2562, 5);
  VITRAGE_MD5_STEP(G, d, a, b, c, m[6], 0xc040b340, 9);
  VITRAGE_MD5_STEP(G, c, d, a, b, m[11], 0x265e5a51, 14);
  VITRAGE_MD5_STEP(G, b, c, d, a, m[0], 0xe9b6c7aa, 20);
  VITRAGE_MD5_STEP(G, a, b, c, d, m[5], 0xd62f105d, 5);
  VITRAGE_MD5_STEP(G, d, a, b, c, m[10], 0x02441453, 9);
  VITRAGE_MD5_STEP(G, c, d, a, b, m[15], 0xd8a1e681, 14);
  VITRAGE_MD5_STEP(G, b, c, d, a, m[4], 0xe7d3fbc8, 20);
  VITRAGE_MD5_STEP(G, a, b, c, d, m[9], 0x21e1cde6, 5);
  VITRAGE_MD5_STEP(G, d, a, b, c, m[14], 0xc33707d6, 9);
  VITRAGE_MD5_STEP(G, c, d, a, b, m[3], 0xf4d50d87, 14);
  VITRAGE_MD5_STEP(G, b, c, d, a, m[8], 0x455a14ed, 20);
  VITRAGE_MD5_STEP(G, a, b, c, d, m[13], 0xa9e3e905, 5);
  VITRAGE_MD5_STEP(G, d, a, b, c, m[2], 0xfcefa3f8, 9);
  VITRAGE_MD5_STEP(G, c, d, a, b, m[7], 0x676f02d9, 14);
  VITRAGE_MD5_STEP(G, b, c, d, a, m[12], 0x8d2a4c8a, 20);
  VITRAGE_MD5_STEP(H, a, b, c, d, m[5], 0xfffa3942, 4);
  VITRAGE_MD5_STEP(H, d, a, b, c, m[8], 0x8771f681, 11);
  VITRAGE_MD5_STEP(H, c, d, a, b, m[11], 0x6d9d6122, 16);
  VITRAGE_MD5_STEP(H, b, c, d, a, m[14], 0xfde5380c, 23);
  VITRAGE_MD5_STEP(H, a, b, c, d, m[1], 0xa4beea44, 4);
  VITRAGE_MD5_STEP(H, d, a, b, c, m[4], 0x4bdecfa9, 11);
  VITRAGE_MD5_STEP(H, c, d, a, b, m[7], 0xf6bb4b60, 16);
  VITRAGE_MD5_STEP(H, b, c, d, a, m[10], 0xbebfbc70, 23);
  VITRAGE_MD5_STEP(H, a, b, c, d, m[13], 0x289b7ec6, 4);
  VITRAGE_MD5_STEP(H, d, a, b, c, m[0], 0xeaa127fa, 11);
  VITRAGE_MD5_STEP(H, c, d, a, b, m[3], 0xd4ef3085, 16);
  VITRAGE_MD5_STEP(H, b, c, d, a, m[6], 0x04881d05, 23);
  VITRAGE_MD5_STEP(H, a, b, c, d, m[9], 0xd9d4d039, 4);
  VITRAGE_MD5_STEP(H, d, a, b, c, m[12], 0xe6db99e5, 11);
  VITRAGE_MD5_STEP(H, c, d, a, b, m[15], 0x1fa27cf8, 16);
  VITRAGE_MD5_STEP(H, b, c, d, a, m[2], 0xc4ac5665, 23);
  VITRAGE_MD5_STEP(I, a, b, c, d, m[0], 0xf4292244, 6);
  VITRAGE_MD5_STEP(I, d, a, b, c, m[7], 0x432aff97, 10);
  VITRAGE_MD5_STEP(I, c, d, a, b, m[14], 0xab9423a7, 15);
  VITRAGE_MD5_STEP(I, b, c, d, a, m[5], 0xfc93a039, 21);
  VITRAGE_MD5_STEP(I, a, b, c, d, m[12], 0x655b59c3, 6);
  VITRAGE_MD5_STEP(I, d, a, b, c, m[3], 0x8f0ccc92, 10);
  VITRAGE_MD5_STEP(I, c, d, a, b, m[10], 0xffeff47d, 15);
  VITRAGE_MD5_STEP(I, b, c, d, a, m[1], 0x85845dd1, 21);
  VITRAGE_MD5_STEP(I, a, b, c, d, m[8], 0x6fa87e4f, 6);
  VITRAGE_MD5_STEP(I, d, a, b, c, m[15], 0xfe2ce6e0, 10);
  VITRAGE_MD5_STEP(I, c, d, a, b, m[6], 0xa3014314, 15);
  VITRAGE_MD5_STEP(I, b, c, d, a, m[13], 0x4e0811a1, 21);
  VITRAGE_MD5_STEP(I, a, b, c, d, m[4], 0xf7537e82, 6);
  VITRAGE_MD5_STEP(I, d, a, b, c, m[11], 0xbd3af235, 10);
  VITRAGE_MD5_STEP(I, c, d, a, b, m[2], 0x2ad7d2bb, 15);
  VITRAGE_MD5_STEP(I, b, c, d, a, m[9], 0xeb86d391, 21);
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
}

#undef VITRAGE_MD5_STEP

}  // namespace

void Md5(absl::string_view s, unsigned char out[16]) {
  uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  const size_t n = s.size();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  uint32_t m[16];
  for (; i + 64 <= n; i += 64) {
    std::memcpy(m, p + i, 64);  // little-endian host
    Block(h, m);
  }
  unsigned char tail[128] = {};
  const size_t rest = n - i;
  if (rest > 0) std::memcpy(tail, p + i, rest);  // p may be null when empty
  tail[rest] = 0x80;
  const size_t len = rest + 1 + 8 <= 64 ? 64 : 128;
  const uint64_t bits = uint64_t{n} * 8;
  for (int k = 0; k < 8; ++k) tail[len - 8 + k] = static_cast<unsigned char>(bits >> (8 * k));
  std::memcpy(m, tail, 64);
  Block(h, m);
  if (len == 128) {
    std::memcpy(m, tail + 64, 64);
    Block(h, m);
  }
  for (int k = 0; k < 4; ++k) {
    for (int j = 0; j < 4; ++j) out[4 * k + j] = static_cast<unsigned char>(h[k] >> (8 * j));
  }
}

void Md5x4(const absl::string_view s[4], unsigned char out[4][16]) {
  // Each lane's message padded to one or two blocks.
  uint32_t words[4][32] = {};
  int blocks[4];
  int most = 1;
  for (int l = 0; l < 4; ++l) {
    const size_t n = s[l].size();
    blocks[l] = n + 9 <= 64 ? 1 : 2;
    most = std::max(most, blocks[l]);
    auto* b = reinterpret_cast<unsigned char*>(words[l]);
    if (n > 0) std::memcpy(b, s[l].data(), n);  // data() may be null when empty
    b[n] = 0x80;
    const uint64_t bits = uint64_t{n} * 8;
    std::memcpy(b + 64 * blocks[l] - 8, &bits, 8);  // little-endian host
  }
  Lanes h[4] = {Splat<Lanes>(0x67452301), Splat<Lanes>(0xefcdab89), Splat<Lanes>(0x98badcfe),
                Splat<Lanes>(0x10325476)};
  Lanes after[2][4];
  for (int k = 0; k < most; ++k) {
    Lanes m[16];
    for (int i = 0; i < 16; ++i) {
      m[i] = Lanes{words[0][16 * k + i], words[1][16 * k + i], words[2][16 * k + i],
                   words[3][16 * k + i]};
    }
    Block(h, m);
    std::copy(h, h + 4, after[k]);
  }
  for (int l = 0; l < 4; ++l) {
    const Lanes* r = after[blocks[l] - 1];
    const uint32_t w[4] = {r[0][l], r[1][l], r[2][l], r[3][l]};
    std::memcpy(out[l], w, 16);
  }
}

void Md5Batch(const absl::string_view* s, size_t n, unsigned char* out) {
  for (size_t i = 0; i < n; i += 4) {
    const size_t m = std::min<size_t>(4, n - i);
    absl::string_view lanes[4];  // "" in the lanes Md5x4 does not take
    bool fits[4] = {};
    int fit = 0;
    for (size_t j = 0; j < m; ++j) {
      fits[j] = s[i + j].size() <= kMd5x4MaxBytes;
      if (fits[j]) lanes[j] = s[i + j];
      fit += fits[j];
    }
    unsigned char md[4][16];
    if (fit >= 2) Md5x4(lanes, md);
    for (size_t j = 0; j < m; ++j) {
      if (fit >= 2 && fits[j]) {
        std::memcpy(out + 16 * (i + j), md[j], 16);
      } else {
        Md5(s[i + j], out + 16 * (i + j));
      }
    }
  }
}

std::string Md5Hex(absl::string_view s) {
  unsigned char md[16];
  Md5(s, md);
  static const char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  return out;
}

}  // namespace vitrage
