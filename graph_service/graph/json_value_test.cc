#include "graph_service/graph/json_value.h"

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace vitrage::graph {
namespace {

std::string Dump(const Value& v) {
  std::string out;
  AppendPythonJson(v, &out);
  return out;
}

// Runs python3's json.dumps(json.loads(line), sort_keys=True) on each line.
std::vector<std::string> PythonDumps(const std::vector<std::string>& lines) {
  char path[] = "/tmp/json_value_test_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  {
    std::ofstream f(path);
    for (const auto& l : lines) f << l << "\n";
  }
  std::string cmd = std::string(
                        "/usr/bin/python3 -c 'import json,sys\n"
                        "for l in open(sys.argv[1]):\n"
                        "    print(json.dumps(json.loads(l), sort_keys=True))' ") +
                    path;
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::vector<std::string> out;
  std::string cur;
  int c;
  while ((c = fgetc(p)) != EOF) {
    if (c == '\n') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(c));
    }
  }
  pclose(p);
  unlink(path);
  return out;
}

TEST(PythonFloatTest, ReprRules) {
  auto f = [](double d) {
    std::string s;
    AppendPythonFloat(d, &s);
    return s;
  };
  EXPECT_EQ(f(1.0), "1.0");
  EXPECT_EQ(f(0.1), "0.1");
  EXPECT_EQ(f(1e-05), "1e-05");
  EXPECT_EQ(f(0.0001), "0.0001");
  EXPECT_EQ(f(1e16), "1e+16");
  EXPECT_EQ(f(1e15), "1000000000000000.0");
  EXPECT_EQ(f(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(f(-0.0), "-0.0");
  EXPECT_EQ(f(2.5e-300), "2.5e-300");
  EXPECT_EQ(f(1.5), "1.5");
}

TEST(PythonJsonTest, MatchesPythonOnTrickyValues) {
  std::vector<std::string> lines = {
      R"({"b": 1, "a": [1, 2.0, -0.0, 1e-7, 1e22, 12345.678, true, false, null]})",
      R"({"s": "caf\u00e9 \u20ac \ud83d\ude00 tab\t nl\n cr\r q\" bs\\ ctl\u0001 del\u007f"})",
      R"({"nested": {"z": {"y": [], "x": {}}, "A": "upper", "_": 0}, "": ""})",
      R"({"big": 9007199254740993, "neg": -9223372036854775808, "f": 0.30000000000000004})",
      R"({"\u00e9key": 1, "ekey": 2, "Zkey": 3})",
      R"([1e-4, 1e-5, 1e15, 1e16, 1.7976931348623157e308, 5e-324, 100.0, 0.5])",
  };
  // A character that needs escaping at every position of a string longer
  // than the writer's 16-byte scan, and around its block edges.
  for (const char* special : {"\\\"", "\\\\", "\\u0001", "\\u007f", "\\u00e9", "\\n"}) {
    for (size_t k = 0; k < 40; ++k) {
      lines.push_back(
          absl::StrCat("[\"", std::string(k, 'a'), special, std::string(39 - k, 'b'), "\"]"));
    }
  }
  lines.push_back(absl::StrCat("[\"", std::string(64, 'x'), "\"]"));
  // Random doubles too.
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) {
    uint64_t bits = rng();
    double d;
    memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) continue;
    char buf[64];
    snprintf(buf, sizeof buf, "[%.17g]", d);
    lines.push_back(buf);
    std::uniform_real_distribution<double> u(-1e6, 1e6);
    snprintf(buf, sizeof buf, "[%.17g]", u(rng));
    lines.push_back(buf);
  }
  std::vector<std::string> expected = PythonDumps(lines);
  ASSERT_EQ(expected.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    Value v = ValueFromJson(nlohmann::json::parse(lines[i]), InternKey("x"));
    EXPECT_EQ(Dump(v), expected[i]) << lines[i];
  }
}

}  // namespace
}  // namespace vitrage::graph
