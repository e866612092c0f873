// The persistor's check of a journal record it is asked to store, without
// building it.
//
// The persistor stores records as the bytes the graph serialized and
// never reads their content again; it needs the seq and the epoch, and
// it refuses bytes that would not parse as a vitrage.v1.JournalRecord
// (such a record would stop every later recovery at its replay). Parsing
// each record into a message allocated every string and sub-message of
// it; CheckJournalRecord walks the wire format instead, driven by the
// descriptors, and reaches the same verdict as
// JournalRecord::ParseFromString (record_check_test compares them on
// records and on their mutations):
//
//  * every field's tag, varint and length fit the bytes;
//  * a field whose wire type is its declared type's is checked as that
//    type: a message recursively (at most 100 deep, as the parser), a
//    string as UTF-8;
//  * any other field (unknown, or a known number with another wire type:
//    the parser keeps it as an unknown field) only has to be well formed.
#ifndef VITRAGE_PERSISTOR_SERVICE_SERVER_RECORD_CHECK_H_
#define VITRAGE_PERSISTOR_SERVICE_SERVER_RECORD_CHECK_H_

#include <cstdint>
#include <string_view>

namespace vitrage::persistor {

struct RecordHead {
  uint64_t seq = 0;
  uint64_t epoch = 0;
};

// True when `bytes` parse as a JournalRecord; then *head has its seq and
// epoch (0 when absent, as in the message).
bool CheckJournalRecord(std::string_view bytes, RecordHead* head);

}  // namespace vitrage::persistor

#endif  // VITRAGE_PERSISTOR_SERVICE_SERVER_RECORD_CHECK_H_
