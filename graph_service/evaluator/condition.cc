#include "graph_service/evaluator/condition.h"

#include <cctype>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vitrage::evaluator {
namespace {

constexpr size_t kMaxClauses = 64;

struct Node {
  enum Kind { kLit, kAnd, kOr, kNot } kind = kLit;
  Literal lit;
  std::vector<std::unique_ptr<Node>> kids;
};

class Parser {
 public:
  explicit Parser(absl::string_view s) : s_(s) {}

  absl::StatusOr<std::unique_ptr<Node>> Parse() {
    auto n = Or();
    if (!n.ok()) return n;
    SkipSpace();
    if (pos_ != s_.size()) return Error("unexpected text");
    return n;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("condition \"", s_, "\": ", what, " at column ", pos_ + 1));
  }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  static bool IsWord(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
  // The next word without consuming it ("" when none).
  absl::string_view PeekWord() {
    SkipSpace();
    size_t e = pos_;
    while (e < s_.size() && IsWord(s_[e])) ++e;
    return s_.substr(pos_, e - pos_);
  }
  bool TakeKeyword(absl::string_view kw) {
    absl::string_view w = PeekWord();
    if (!absl::EqualsIgnoreCase(w, kw)) return false;
    pos_ += w.size();
    return true;
  }
  static bool IsKeyword(absl::string_view w) {
    return absl::EqualsIgnoreCase(w, "and") || absl::EqualsIgnoreCase(w, "or") ||
           absl::EqualsIgnoreCase(w, "not");
  }

  absl::StatusOr<std::unique_ptr<Node>> Or() {
    auto first = And();
    if (!first.ok()) return first;
    auto node = std::make_unique<Node>();
    node->kind = Node::kOr;
    node->kids.push_back(std::move(*first));
    while (TakeKeyword("or")) {
      auto next = And();
      if (!next.ok()) return next;
      node->kids.push_back(std::move(*next));
    }
    if (node->kids.size() == 1) return std::move(node->kids[0]);
    return node;
  }
  absl::StatusOr<std::unique_ptr<Node>> And() {
    auto first = Factor();
    if (!first.ok()) return first;
    auto node = std::make_unique<Node>();
    node->kind = Node::kAnd;
    node->kids.push_back(std::move(*first));
    while (TakeKeyword("and")) {
      auto next = Factor();
      if (!next.ok()) return next;
      node->kids.push_back(std::move(*next));
    }
    if (node->kids.size() == 1) return std::move(node->kids[0]);
    return node;
  }
  absl::StatusOr<std::unique_ptr<Node>> Factor() {
    if (TakeKeyword("not")) {
      auto kid = Factor();
      if (!kid.ok()) return kid;
      auto node = std::make_unique<Node>();
      node->kind = Node::kNot;
      node->kids.push_back(std::move(*kid));
      return node;
    }
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '(') {
      ++pos_;
      auto inner = Or();
      if (!inner.ok()) return inner;
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ')') return Error("missing ')'");
      ++pos_;
      return inner;
    }
    absl::string_view w = PeekWord();
    if (w.empty()) return Error(pos_ >= s_.size() ? "unexpected end" : "expected an id");
    if (IsKeyword(w)) return Error(absl::StrCat("unexpected \"", w, "\""));
    auto node = std::make_unique<Node>();
    node->lit.id = std::string(w);
    pos_ += w.size();
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '[') {
      ++pos_;
      absl::string_view label = PeekWord();
      if (label.empty()) return Error("expected a relationship type after '['");
      pos_ += label.size();
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ']') return Error("missing ']'");
      ++pos_;
      absl::string_view target = PeekWord();
      if (target.empty() || IsKeyword(target)) return Error("expected an entity after ']'");
      pos_ += target.size();
      node->lit.label = std::string(label);
      node->lit.target = std::string(target);
    }
    return node;
  }

  absl::string_view s_;
  size_t pos_ = 0;
};

absl::StatusOr<Dnf> ToDnf(const Node& n, bool negated) {
  if (n.kind == Node::kLit) {
    Literal l = n.lit;
    l.negated = negated;
    return Dnf{{l}};
  }
  if (n.kind == Node::kNot) return ToDnf(*n.kids[0], !negated);
  // De Morgan: a negated AND is an OR of negations and vice versa.
  bool is_or = (n.kind == Node::kOr) != negated;
  if (is_or) {
    Dnf out;
    for (const auto& k : n.kids) {
      auto d = ToDnf(*k, negated);
      if (!d.ok()) return d;
      out.insert(out.end(), d->begin(), d->end());
      if (out.size() > kMaxClauses) {
        return absl::InvalidArgumentError("condition too complex (over 64 clauses)");
      }
    }
    return out;
  }
  Dnf out{{}};
  for (const auto& k : n.kids) {
    auto d = ToDnf(*k, negated);
    if (!d.ok()) return d;
    Dnf next;
    for (const auto& a : out) {
      for (const auto& b : *d) {
        std::vector<Literal> c = a;
        c.insert(c.end(), b.begin(), b.end());
        next.push_back(std::move(c));
        if (next.size() > kMaxClauses) {
          return absl::InvalidArgumentError("condition too complex (over 64 clauses)");
        }
      }
    }
    out = std::move(next);
  }
  return out;
}

}  // namespace

absl::StatusOr<Dnf> ParseCondition(absl::string_view text) {
  Parser p(text);
  auto root = p.Parse();
  if (!root.ok()) return root.status();
  return ToDnf(**root, false);
}

}  // namespace vitrage::evaluator
