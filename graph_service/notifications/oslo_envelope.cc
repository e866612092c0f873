#include "graph_service/notifications/oslo_envelope.h"

#include <cstdint>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/json_depth.h"

namespace vitrage::notifications {
namespace {

constexpr char kVersionKey[] = "oslo.version";
constexpr char kMessageKey[] = "oslo.message";

// Bounds one JSON text (`what` names it in the error) by [limits].
absl::Status CheckText(absl::string_view what, absl::string_view text,
                       const Config::Limits& limits) {
  if (text.size() > limits.max_event_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", text.size(), " bytes; at most ",
                                                   limits.max_event_bytes,
                                                   " ([limits] max_event_bytes)"));
  }
  if (int depth = JsonDepth(text, limits.max_json_depth); depth > limits.max_json_depth) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " nests ", depth, " levels (or more); at most ", limits.max_json_depth,
                     " ([limits] max_json_depth)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ParseObject(absl::string_view what, absl::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not JSON: ", e.what()));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is a JSON ", j.type_name(), ", not an object"));
  }
  return j;
}

// oslo.messaging's _utils.version_is_compatible("2.0", version): major
// equal, minor not newer, revision not newer when the minor is equal.
// Parts are decimal numbers; "MAJOR.MINOR" at least (oslo indexes the
// minor without a guard).
absl::Status CheckVersion(const nlohmann::json& v) {
  if (!v.is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kVersionKey, " is a JSON ", v.type_name(), ", not a string"));
  }
  const std::string& s = v.get_ref<const std::string&>();
  std::vector<absl::string_view> parts = absl::StrSplit(s, '.');
  int64_t n[3] = {0, 0, 0};
  bool ok = parts.size() >= 2;
  for (size_t i = 0; ok && i < parts.size(); ++i) {
    int64_t x;
    ok = !parts[i].empty() && parts[i].find_first_not_of("0123456789") == absl::string_view::npos &&
         absl::SimpleAtoi(parts[i], &x);
    if (ok && i < 3) n[i] = x;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(kVersionKey, " \"", s, "\" is not a version (MAJOR.MINOR[.REV])"));
  }
  if (n[0] != 2 || n[1] > 0 || n[2] > 0) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported ", kVersionKey, " \"", s,
                                                   "\": this reader takes envelope ",
                                                   kOsloEnvelopeVersion));
  }
  return absl::OkStatus();
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A JSON string at body[*pos] (the opening quote), unescaped into *out.
// False for anything the fast path leaves to the full parser: \u escapes,
// control characters, an unterminated string, a bad escape.
bool FastString(absl::string_view body, size_t* pos, std::string* out) {
  size_t i = *pos;
  if (i >= body.size() || body[i] != '"') return false;
  ++i;
  out->clear();
  while (true) {
    // The run up to the next quote or backslash, copied at once.
    size_t j = i;
    while (j < body.size() && body[j] != '"' && body[j] != '\\') {
      if (static_cast<unsigned char>(body[j]) < 0x20) return false;
      ++j;
    }
    if (j >= body.size()) return false;
    out->append(body.data() + i, j - i);
    if (body[j] == '"') {
      *pos = j + 1;
      return true;
    }
    if (j + 1 >= body.size()) return false;
    switch (body[j + 1]) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      default:
        return false;  // \u (never in oslo's ASCII-only outer text) or bad
    }
    i = j + 2;
  }
}

// oslo's serialize_msg output, read without building a JSON document:
// {"oslo.version": "2.0", "oslo.message": "<text>"} in either order, any
// JSON whitespace. Fills *text and returns true only for exactly that (two
// distinct keys, version "2.0", plain escapes); anything else, valid or
// not, goes to the full parser, which then decides and names the error.
bool FastEnvelope(absl::string_view body, std::string* text) {
  size_t i = 0;
  auto skip = [&] {
    while (i < body.size() && IsJsonSpace(body[i])) ++i;
  };
  skip();
  if (i >= body.size() || body[i] != '{') return false;
  ++i;
  bool have_version = false, have_message = false;
  std::string key, value;
  for (int member = 0; member < 2; ++member) {
    skip();
    if (member == 1) {
      if (i >= body.size() || body[i] != ',') return false;
      ++i;
      skip();
    }
    if (!FastString(body, &i, &key)) return false;
    skip();
    if (i >= body.size() || body[i] != ':') return false;
    ++i;
    skip();
    if (key == kVersionKey && !have_version) {
      if (!FastString(body, &i, &value) || value != kOsloEnvelopeVersion) return false;
      have_version = true;
    } else if (key == kMessageKey && !have_message) {
      if (!FastString(body, &i, text)) return false;
      have_message = true;
    } else {
      return false;
    }
  }
  skip();
  if (i >= body.size() || body[i] != '}') return false;
  ++i;
  skip();
  return i == body.size();
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseOsloEnvelope(std::string_view body_in,
                                                 const Config::Limits& limits) {
  const absl::string_view body(body_in.data(), body_in.size());
  if (body.size() > limits.max_event_bytes) {
    return CheckText("message body", body, limits);  // names the size
  }
  // What oslo sends, without a JSON document for the envelope: the
  // envelope nests one level, so only its text is bounded and parsed.
  if (std::string text; limits.max_json_depth >= 1 && FastEnvelope(body, &text)) {
    if (absl::Status s = CheckText(kMessageKey, text, limits); !s.ok()) return s;
    return ParseObject(kMessageKey, text);
  }
  if (absl::Status s = CheckText("message body", body, limits); !s.ok()) return s;
  absl::StatusOr<nlohmann::json> outer = ParseObject("message body", body);
  if (!outer.ok()) return outer.status();
  // deserialize_msg: an envelope only when both keys are there.
  auto version = outer->find(kVersionKey);
  auto message = outer->find(kMessageKey);
  if (version == outer->end() || message == outer->end()) return outer;
  if (absl::Status s = CheckVersion(*version); !s.ok()) return s;
  if (!message->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMessageKey, " is a JSON ", message->type_name(), ", not a string"));
  }
  const std::string& text = message->get_ref<const std::string&>();
  if (absl::Status s = CheckText(kMessageKey, text, limits); !s.ok()) return s;
  return ParseObject(kMessageKey, text);
}

absl::StatusOr<nlohmann::json> ParseOsloEnvelope(std::string_view body) {
  return ParseOsloEnvelope(body, Config::Limits{});
}

std::string WrapOsloEnvelope(const nlohmann::json& msg) {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  nlohmann::json envelope = nlohmann::json::object();
  envelope[kVersionKey] = kOsloEnvelopeVersion;
  envelope[kMessageKey] = msg.dump(-1, ' ', /*ensure_ascii=*/true, kReplace);
  return envelope.dump(-1, ' ', /*ensure_ascii=*/true, kReplace);
}

}  // namespace vitrage::notifications
