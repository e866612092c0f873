#include "common/sha256.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace vitrage {
namespace {

std::string OpenSslHex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

// FIPS 180-4 / NIST CAVS example vectors.
TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256::HexOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::HexOf("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::HexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256::HexOf(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, MillionAsInOddPiecesGiveTheSameDigest) {
  Sha256 s;
  size_t left = 1'000'000, piece = 1;
  while (left > 0) {
    size_t n = std::min(left, piece);
    s.Update(std::string(n, 'a'));
    left -= n;
    piece = piece * 3 % 257 + 1;  // 1..257 bytes: every offset in a block
  }
  EXPECT_EQ(s.HexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Every length around the padding boundaries (55, 56, 63, 64 bytes ...)
// and random buffers up to 300 KiB, split at random points.
TEST(Sha256Test, EqualsOpenSslOnRandomBuffers) {
  std::mt19937_64 rng(20);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  for (size_t n = 0; n <= 200; ++n) {
    std::string data = random_bytes(n);
    ASSERT_EQ(Sha256::HexOf(data), OpenSslHex(data)) << n << " bytes";
  }
  for (int i = 0; i < 50; ++i) {
    std::string data = random_bytes(rng() % (300 << 10));
    Sha256 s;
    size_t pos = 0;
    while (pos < data.size()) {
      size_t n = std::min<size_t>(data.size() - pos, rng() % 5000);
      s.Update(data.data() + pos, n);
      pos += n;
    }
    ASSERT_EQ(s.HexDigest(), OpenSslHex(data)) << data.size() << " bytes";
  }
}

// The tests above run the SHA extensions where the CPU has them; this one
// runs the portable code too, and both must agree with OpenSSL.
TEST(Sha256Test, PortableAndHardwareAgree) {
  const bool hardware = Sha256::HardwareAccelerated();
  std::mt19937_64 rng(27);
  for (int i = 0; i < 300; ++i) {
    std::string data(i < 200 ? static_cast<size_t>(i) : rng() % (100 << 10), '\0');
    for (char& c : data) c = static_cast<char>(rng());
    Sha256::UseHardwareForTest(false);
    EXPECT_FALSE(Sha256::HardwareAccelerated());
    const std::string portable = Sha256::HexOf(data);
    Sha256::UseHardwareForTest(true);
    ASSERT_EQ(Sha256::HardwareAccelerated(), hardware);
    ASSERT_EQ(portable, OpenSslHex(data)) << data.size() << " bytes";
    ASSERT_EQ(Sha256::HexOf(data), portable) << data.size() << " bytes";
  }
}

// On a CPU with the SHA extensions (this project's machines), they are used.
TEST(Sha256Test, UsesTheShaExtensionsWhereTheCpuHasThem) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string text((std::istreambuf_iterator<char>(cpuinfo)), std::istreambuf_iterator<char>());
  if (text.find(" sha_ni") == std::string::npos) GTEST_SKIP() << "no sha_ni in /proc/cpuinfo";
  EXPECT_TRUE(Sha256::HardwareAccelerated());
}

TEST(Sha256Test, ResetStartsOver) {
  Sha256 s;
  s.Update("garbage");
  (void)s.Finish();
  s.Reset();
  s.Update("abc");
  EXPECT_EQ(s.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace vitrage
