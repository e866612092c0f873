#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace vitrage::crc32c {
namespace {

TEST(Crc32cTest, StandardCheckValue) {
  EXPECT_EQ(Value("123456789"), 0xE3069283u);
  EXPECT_EQ(ExtendPortable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, Rfc3720Vectors) {
  std::string zeros(32, '\0');
  EXPECT_EQ(Value(zeros), 0x8A9136AAu);
  std::string ones(32, '\xff');
  EXPECT_EQ(Value(ones), 0x62A8AB43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(Value(inc), 0x46DD794Eu);
  std::string dec(32, '\0');
  for (int i = 0; i < 32; ++i) dec[i] = static_cast<char>(31 - i);
  EXPECT_EQ(Value(dec), 0x113FDB5Cu);
}

TEST(Crc32cTest, EmptyIsZero) { EXPECT_EQ(Value("", 0), 0u); }

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string s = "hello world, this is a longer string for crc32c";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t a = Extend(0, s.data(), cut);
    EXPECT_EQ(Extend(a, s.data() + cut, s.size() - cut), Value(s)) << cut;
  }
}

TEST(Crc32cTest, HardwareAndPortableAgreeOnRandomData) {
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 200; ++iter) {
    std::string s(rng() % 1000, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    size_t off = s.empty() ? 0 : rng() % s.size();
    EXPECT_EQ(Extend(0, s.data() + off, s.size() - off),
              ExtendPortable(0, s.data() + off, s.size() - off));
  }
}

TEST(Crc32cTest, DetectsSingleBitFlip) {
  std::string s(4096, 'x');
  uint32_t good = Value(s);
  for (size_t bit = 0; bit < s.size() * 8; bit += 97) {
    std::string t = s;
    t[bit / 8] = static_cast<char>(t[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_NE(Value(t), good) << bit;
  }
}

}  // namespace
}  // namespace vitrage::crc32c
