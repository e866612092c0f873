#include "persistor_service/server/record_check.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/wire_format_lite.h>

#include <climits>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "vitrage/v1/journal.pb.h"

namespace vitrage::persistor {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using WireType = google::protobuf::internal::WireFormatLite::WireType;
using google::protobuf::internal::WireFormatLite;

constexpr int kMaxDepth = 100;  // the parser's default recursion limit

// A cursor over the bytes, as the parser reads them (parse_context.h).
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
};

// A varint of at most `max_bytes` bytes; the value's bits past 64 are
// dropped, as the parser does.
inline bool ReadVarint(Cursor* c, uint64_t* v, int max_bytes = 10) {
  uint64_t r = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (c->p == c->end) return false;
    const uint8_t b = *c->p++;
    r |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      *v = r;
      return true;
    }
  }
  return false;
}

// ReadTag: at most 5 bytes, the value taken modulo 2^32.
inline bool ReadTag(Cursor* c, uint32_t* tag) {
  uint64_t v = 0;
  if (!ReadVarint(c, &v, 5)) return false;
  *tag = static_cast<uint32_t>(v);
  return true;
}

// ReadSize: at most 5 bytes, no more than INT_MAX - 16, and within the
// bytes left.
inline bool ReadSize(Cursor* c, size_t* size) {
  uint64_t v = 0;
  if (!ReadVarint(c, &v, 5) || v > static_cast<uint64_t>(INT_MAX - 16) ||
      v > static_cast<uint64_t>(c->end - c->p)) {
    return false;
  }
  *size = static_cast<size_t>(v);
  return true;
}

inline bool Skip(Cursor* c, size_t n) {
  if (n > static_cast<size_t>(c->end - c->p)) return false;
  c->p += n;
  return true;
}

enum class Kind { kVarint, kFixed32, kFixed64, kString, kBytes, kMessage, kGroup };

struct Table;

// The wire type a field of each kind is written with.
WireType WireOf(Kind kind) {
  switch (kind) {
    case Kind::kVarint:
      return WireFormatLite::WIRETYPE_VARINT;
    case Kind::kFixed32:
      return WireFormatLite::WIRETYPE_FIXED32;
    case Kind::kFixed64:
      return WireFormatLite::WIRETYPE_FIXED64;
    case Kind::kGroup:
      return WireFormatLite::WIRETYPE_START_GROUP;
    default:
      return WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
  }
}

struct Field {
  bool known = false;  // a field of the message type (else: unknown)
  Kind kind = Kind::kBytes;
  WireType wire = WireFormatLite::WIRETYPE_LENGTH_DELIMITED;  // WireOf(kind)
  bool packable = false;  // repeated numeric: also length-delimited (packed)
  const Table* sub = nullptr;
};

// A message type's fields by number (the numbers used in our protos are
// small, so a vector).
struct Table {
  std::vector<Field> by_number;  // index = field number
};

class Tables {
 public:
  explicit Tables(const Descriptor* root) { root_ = Build(root); }
  const Table* root() const { return root_; }

 private:
  const Table* Build(const Descriptor* d) {
    auto it = tables_.find(d);
    if (it != tables_.end()) return it->second.get();
    auto t = std::make_unique<Table>();
    Table* raw = t.get();
    tables_.emplace(d, std::move(t));  // before the fields: types can recurse
    int max = 0;
    for (int i = 0; i < d->field_count(); ++i) max = std::max(max, d->field(i)->number());
    raw->by_number.resize(max + 1);
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      Field& out = raw->by_number[f->number()];
      out.known = true;
      out.packable = f->is_packable();
      switch (f->type()) {
        case FieldDescriptor::TYPE_INT32:
        case FieldDescriptor::TYPE_INT64:
        case FieldDescriptor::TYPE_UINT32:
        case FieldDescriptor::TYPE_UINT64:
        case FieldDescriptor::TYPE_SINT32:
        case FieldDescriptor::TYPE_SINT64:
        case FieldDescriptor::TYPE_BOOL:
        case FieldDescriptor::TYPE_ENUM:
          out.kind = Kind::kVarint;
          break;
        case FieldDescriptor::TYPE_FIXED32:
        case FieldDescriptor::TYPE_SFIXED32:
        case FieldDescriptor::TYPE_FLOAT:
          out.kind = Kind::kFixed32;
          break;
        case FieldDescriptor::TYPE_FIXED64:
        case FieldDescriptor::TYPE_SFIXED64:
        case FieldDescriptor::TYPE_DOUBLE:
          out.kind = Kind::kFixed64;
          break;
        case FieldDescriptor::TYPE_STRING:
          // proto3 strings must be UTF-8 (the parser fails on others).
          out.kind = f->file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3
                         ? Kind::kString
                         : Kind::kBytes;
          break;
        case FieldDescriptor::TYPE_BYTES:
          out.kind = Kind::kBytes;
          break;
        case FieldDescriptor::TYPE_MESSAGE:
          out.kind = Kind::kMessage;
          out.sub = Build(f->message_type());
          break;
        case FieldDescriptor::TYPE_GROUP:
          out.kind = Kind::kGroup;
          out.sub = Build(f->message_type());
          break;
      }
      out.wire = WireOf(out.kind);
    }
    return raw;
  }

  const Table* root_ = nullptr;
  absl::flat_hash_map<const Descriptor*, std::unique_ptr<Table>> tables_;
};

const Table* JournalRecordTable() {
  static const Tables* tables = new Tables(v1::JournalRecord::descriptor());
  return tables->root();
}

bool CheckMessage(Cursor* c, const Table* t, int depth, uint32_t end_group, RecordHead* head);

// A field the parser keeps as unknown: well formed is enough.
bool SkipUnknown(Cursor* c, uint32_t tag, int depth) {
  switch (WireFormatLite::GetTagWireType(tag)) {
    case WireFormatLite::WIRETYPE_START_GROUP: {
      if (depth >= kMaxDepth) return false;
      const uint32_t end = WireFormatLite::MakeTag(WireFormatLite::GetTagFieldNumber(tag),
                                                   WireFormatLite::WIRETYPE_END_GROUP);
      static const Table kEmpty;
      return CheckMessage(c, &kEmpty, depth + 1, end, nullptr);
    }
    case WireFormatLite::WIRETYPE_VARINT: {
      uint64_t v;
      return ReadVarint(c, &v);
    }
    case WireFormatLite::WIRETYPE_FIXED64:
      return Skip(c, 8);
    case WireFormatLite::WIRETYPE_FIXED32:
      return Skip(c, 4);
    case WireFormatLite::WIRETYPE_LENGTH_DELIMITED: {
      size_t size = 0;
      return ReadSize(c, &size) && Skip(c, size);
    }
    default:
      return false;  // an end group is the caller's; 6 and 7 are no wire types
  }
}

bool CheckPacked(Cursor* c, Kind kind) {
  size_t size = 0;
  if (!ReadSize(c, &size)) return false;
  if (kind != Kind::kVarint) {
    const size_t width = kind == Kind::kFixed32 ? 4 : 8;
    return size % width == 0 && Skip(c, size);
  }
  Cursor in{c->p, c->p + size};
  uint64_t v;
  while (in.p != in.end) {
    if (!ReadVarint(&in, &v)) return false;
  }
  c->p = in.end;
  return true;
}

// Checks fields until the end of `c` (end_group 0) or the group's end tag.
// `head` (the top level only) gets seq and epoch.
bool CheckMessage(Cursor* c, const Table* t, int depth, uint32_t end_group, RecordHead* head) {
  while (true) {
    // The end of the bytes ends a message, not a group.
    if (c->p == c->end) return end_group == 0;
    uint32_t tag = 0;
    if (!ReadTag(c, &tag) || tag == 0) return false;
    const uint32_t number = WireFormatLite::GetTagFieldNumber(tag);
    if (number == 0) return false;
    const WireType wire = WireFormatLite::GetTagWireType(tag);
    if (wire == WireFormatLite::WIRETYPE_END_GROUP) return tag == end_group;
    const Field* f = number < t->by_number.size() && t->by_number[number].known
                         ? &t->by_number[number]
                         : nullptr;
    if (f == nullptr ||
        (wire != f->wire && !(f->packable && wire == WireFormatLite::WIRETYPE_LENGTH_DELIMITED))) {
      if (!SkipUnknown(c, tag, depth)) return false;
      continue;
    }
    if (wire != f->wire) {  // packed
      if (!CheckPacked(c, f->kind)) return false;
      continue;
    }
    switch (f->kind) {
      case Kind::kVarint: {
        uint64_t v;
        if (!ReadVarint(c, &v)) return false;
        if (head != nullptr && number == v1::JournalRecord::kSeqFieldNumber) head->seq = v;
        if (head != nullptr && number == v1::JournalRecord::kEpochFieldNumber) head->epoch = v;
        break;
      }
      case Kind::kFixed32:
        if (!Skip(c, 4)) return false;
        break;
      case Kind::kFixed64:
        if (!Skip(c, 8)) return false;
        break;
      case Kind::kBytes: {
        size_t size = 0;
        if (!ReadSize(c, &size)) return false;
        c->p += size;
        break;
      }
      case Kind::kString: {
        size_t size = 0;
        if (!ReadSize(c, &size)) return false;
        if (size > 0 && !google::protobuf::internal::IsStructurallyValidUTF8(
                            reinterpret_cast<const char*>(c->p), static_cast<int>(size))) {
          return false;
        }
        c->p += size;
        break;
      }
      case Kind::kMessage: {
        if (depth >= kMaxDepth) return false;
        size_t size = 0;
        if (!ReadSize(c, &size)) return false;
        Cursor sub{c->p, c->p + size};
        if (!CheckMessage(&sub, f->sub, depth + 1, 0, nullptr)) return false;
        c->p = sub.end;
        break;
      }
      case Kind::kGroup: {
        if (depth >= kMaxDepth) return false;
        const uint32_t end = WireFormatLite::MakeTag(number, WireFormatLite::WIRETYPE_END_GROUP);
        if (!CheckMessage(c, f->sub, depth + 1, end, nullptr)) return false;
        break;
      }
    }
  }
}

}  // namespace

bool CheckJournalRecord(std::string_view bytes, RecordHead* head) {
  *head = RecordHead();
  Cursor c{reinterpret_cast<const uint8_t*>(bytes.data()),
           reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size()};
  return CheckMessage(&c, JournalRecordTable(), 0, 0, head);
}

}  // namespace vitrage::persistor
