#include "graph_service/rpc_api/query.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace vitrage::rpc_api {

using graph::Value;
using json = nlohmann::json;

// A comparison's value, also in native form for == and != (the common
// filters: vitrage_category == "RESOURCE", vitrage_is_deleted == false,
// project_id == null), so that testing a vertex reads no JSON.
struct Leaf {
  enum Type { kNull, kNumber, kString, kOther };
  Leaf(graph::KeyId k, const json& w) : key(k), want(w) {
    if (w.is_null()) {
      type = kNull;
    } else if (w.is_boolean() || w.is_number_integer()) {
      type = kNumber;
      is_int = true;
      i = w.is_boolean() ? w.get<bool>() : w.get<int64_t>();
    } else if (w.is_number_float()) {
      type = kNumber;
      d = w.get<double>();
    } else if (w.is_string()) {
      type = kString;
      s = w.get<std::string>();
    }
  }
  graph::KeyId key;
  json want;
  int slot = -1;  // its key's place in Node::keys of the root, or -1
  Type type = kOther;
  bool is_int = false;
  int64_t i = 0;
  double d = 0;
  std::string s;
};

struct Query::Node {
  enum Op { kAnd, kOr, kLt, kLe, kEq, kNe, kGe, kGt } op;
  std::vector<Node> children;  // kAnd, kOr
  std::vector<Leaf> leaves;    // comparisons
  // The root's: the distinct keys its leaves read, by id (each vertex's
  // members, sorted by key id too, are then looked up in one pass).
  std::vector<graph::KeyId> keys;
};

namespace {

// No interned key has this id (ids are below the table's capacity).
constexpr graph::KeyId kNeverAKey = graph::kKeyTableCapacity;

bool IsNumber(const json& j) { return j.is_number() || j.is_boolean(); }
bool IsNumber(const Value& v) {
  auto k = v.kind();
  return k == Value::Kind::kInt || k == Value::Kind::kDouble || k == Value::Kind::kBool;
}

// -1, 0, 1 for numbers; exact for int/int.
int CompareNumbers(const Value& a, const json& b) {
  if (a.kind() != Value::Kind::kDouble && (b.is_number_integer() || b.is_boolean())) {
    int64_t x = a.kind() == Value::Kind::kBool ? a.bool_value() : a.int_value();
    int64_t y = b.is_boolean() ? b.get<bool>() : b.get<int64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  double x = a.kind() == Value::Kind::kDouble ? a.double_value()
             : a.kind() == Value::Kind::kBool ? a.bool_value()
                                              : static_cast<double>(a.int_value());
  double y = b.is_boolean() ? b.get<bool>() : b.get<double>();
  if (x < y) return -1;
  if (x > y) return 1;
  if (x == y) return 0;
  return 2;  // NaN: unordered
}

// Python's a < b etc.: *type_error set when the types do not order.
// Returns -1, 0, 1, or 2 when unordered (NaN).
int PyCompare(const Value* a, const json& b, bool* type_error) {
  if (a != nullptr && IsNumber(*a) && IsNumber(b)) return CompareNumbers(*a, b);
  if (a != nullptr && a->is_string() && b.is_string()) {
    int c = a->string_value().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a != nullptr && a->kind() == Value::Kind::kList && b.is_array()) {
    const auto& items = a->list_items();
    size_t n = std::min(items.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
      if (!PyEquals(&items[i], b[i])) return PyCompare(&items[i], b[i], type_error);
    }
    return items.size() < b.size() ? -1 : (items.size() > b.size() ? 1 : 0);
  }
  *type_error = true;
  return 0;
}

// PyEquals(a, leaf.want), reading the leaf's native form.
bool LeafEquals(const Value* a, const Leaf& l) {
  switch (l.type) {
    case Leaf::kNull:
      return a == nullptr || a->is_null();
    case Leaf::kString:
      return a != nullptr && a->is_string() && a->string_value() == l.s;
    case Leaf::kNumber: {
      if (a == nullptr || !IsNumber(*a)) return false;
      if (a->kind() != Value::Kind::kDouble && l.is_int) {
        return (a->kind() == Value::Kind::kBool ? a->bool_value() : a->int_value()) == l.i;
      }
      const double x = a->kind() == Value::Kind::kDouble ? a->double_value()
                       : a->kind() == Value::Kind::kBool ? a->bool_value()
                                                         : static_cast<double>(a->int_value());
      return x == (l.is_int ? static_cast<double>(l.i) : l.d);
    }
    case Leaf::kOther:
      break;
  }
  return PyEquals(a, l.want);
}

const char* OpName(Query::Node::Op op) {
  switch (op) {
    case Query::Node::kLt:
      return "<";
    case Query::Node::kLe:
      return "<=";
    case Query::Node::kGe:
      return ">=";
    case Query::Node::kGt:
      return ">";
    default:
      return "==";
  }
}

absl::Status Invalid(const json& q, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid query format ", q.dump(), ": ", why));
}

absl::Status CompileNode(const json& q, const json& whole, Query::Node* out) {
  if (!q.is_object() || q.empty()) {
    return Invalid(whole, "a query element must be a one-key dict");
  }
  // Python's dict.popitem() takes the last member.
  auto it = std::prev(q.end());
  const std::string& op = it.key();
  const json& arg = it.value();
  using N = Query::Node;
  if (op == "and" || op == "or") {
    if (!arg.is_array()) return Invalid(whole, absl::StrCat("'", op, "' takes a list"));
    out->op = op == "and" ? N::kAnd : N::kOr;
    out->children.resize(arg.size());
    for (size_t i = 0; i < arg.size(); ++i) {
      if (absl::Status s = CompileNode(arg[i], whole, &out->children[i]); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  static const std::pair<const char*, N::Op> kOps[] = {
      {"<", N::kLt}, {"<=", N::kLe}, {"==", N::kEq}, {"!=", N::kNe}, {">=", N::kGe}, {">", N::kGt}};
  for (const auto& [name, code] : kOps) {
    if (op != name) continue;
    if (!arg.is_object()) return Invalid(whole, absl::StrCat("'", op, "' takes a dict"));
    out->op = code;
    for (auto m = arg.begin(); m != arg.end(); ++m) {
      // A key no element has is never interned (client input must not
      // grow the process-wide key table): it reads as absent everywhere.
      graph::KeyId key = graph::KeyIsInterned(m.key()) ? graph::InternKey(m.key()) : kNeverAKey;
      out->leaves.emplace_back(key, m.value());
    }
    return absl::OkStatus();
  }
  return Invalid(whole, absl::StrCat("unknown operator '", op, "'"));
}

// Keys a query's leaves read at most for the one-pass lookup.
constexpr size_t kMaxResolvedKeys = 32;

void CollectLeaves(Query::Node* n, std::vector<Leaf*>* out) {
  for (Leaf& l : n->leaves) out->push_back(&l);
  for (Query::Node& c : n->children) CollectLeaves(&c, out);
}

// `found[i]`: the value of p's member with key root.keys[i], or null.
bool Eval(const Query::Node& n, const graph::Properties& p, const Value* const* found,
          std::string* error) {
  using N = Query::Node;
  switch (n.op) {
    case N::kAnd:
      if (n.children.empty()) return false;
      for (const N& c : n.children) {
        if (!Eval(c, p, found, error)) return false;
      }
      return true;
    case N::kOr:
      for (const N& c : n.children) {
        if (Eval(c, p, found, error)) return true;
      }
      return false;
    default:
      break;
  }
  if (n.leaves.empty()) return false;
  for (const Leaf& leaf : n.leaves) {
    const Value* have = leaf.slot >= 0 ? found[leaf.slot] : p.Find(leaf.key);
    const json& want = leaf.want;
    bool ok;
    if (n.op == N::kEq || n.op == N::kNe) {
      ok = LeafEquals(have, leaf) == (n.op == N::kEq);
    } else {
      bool type_error = false;
      int c = PyCompare(have, want, &type_error);
      if (type_error) {
        if (error->empty()) {
          *error = absl::StrCat("'", OpName(n.op), "' not supported between the value of a ",
                                "property and ", want.dump());
        }
        return false;
      }
      switch (n.op) {
        case N::kLt:
          ok = c == -1;
          break;
        case N::kLe:
          ok = c == -1 || c == 0;
          break;
        case N::kGe:
          ok = c == 1 || c == 0;
          break;
        default:
          ok = c == 1;
          break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool PyEquals(const Value* a, const json& b) {
  if (a == nullptr || a->is_null()) return b.is_null();
  if (IsNumber(*a)) return IsNumber(b) && CompareNumbers(*a, b) == 0;
  switch (a->kind()) {
    case Value::Kind::kString:
      return b.is_string() && a->string_value() == b.get_ref<const std::string&>();
    case Value::Kind::kList: {
      if (!b.is_array() || b.size() != a->list_items().size()) return false;
      for (size_t i = 0; i < b.size(); ++i) {
        if (!PyEquals(&a->list_items()[i], b[i])) return false;
      }
      return true;
    }
    case Value::Kind::kMap: {
      if (!b.is_object() || b.size() != a->map_entries().size()) return false;
      for (const auto& [k, v] : a->map_entries()) {
        auto it = b.find(std::string(graph::KeyName(k)));
        if (it == b.end() || !PyEquals(&v, *it)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

absl::StatusOr<Query> Query::Compile(const json& q) {
  auto root = std::make_shared<Node>();
  if (absl::Status s = CompileNode(q, q, root.get()); !s.ok()) return s;
  std::vector<Leaf*> leaves;
  CollectLeaves(root.get(), &leaves);
  for (const Leaf* l : leaves) root->keys.push_back(l->key);
  std::sort(root->keys.begin(), root->keys.end());
  root->keys.erase(std::unique(root->keys.begin(), root->keys.end()), root->keys.end());
  if (root->keys.size() <= kMaxResolvedKeys) {
    for (Leaf* l : leaves) {
      l->slot = static_cast<int>(std::lower_bound(root->keys.begin(), root->keys.end(), l->key) -
                                 root->keys.begin());
    }
  } else {
    root->keys.clear();  // leaves look their keys up one by one
  }
  Query out;
  out.root_ = std::move(root);
  return out;
}

bool Query::Matches(const graph::Properties& p, std::string* error) const {
  const std::vector<graph::KeyId>& keys = root_->keys;
  const Value* found[kMaxResolvedKeys];
  // Both sorted by key id: one merge pass.
  size_t k = 0;
  for (const graph::MapEntry& e : p.items()) {
    if (k == keys.size()) break;
    while (k < keys.size() && keys[k] < e.first) found[k++] = nullptr;
    if (k < keys.size() && keys[k] == e.first) found[k++] = &e.second;
  }
  while (k < keys.size()) found[k++] = nullptr;
  return Eval(*root_, p, found, error);
}

}  // namespace vitrage::rpc_api
