// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr.
// absl::Status codes are gRPC's codes, so a status crosses the RPC boundary
// unchanged (see ToGrpcStatus in common/grpc_util.h).
#ifndef VITRAGE_COMMON_STATUS_MACROS_H_
#define VITRAGE_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VITRAGE_CONCAT_INNER_(a, b) a##b
#define VITRAGE_CONCAT_(a, b) VITRAGE_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// when it is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status vitrage_status_ = (expr);           \
    if (!vitrage_status_.ok()) return vitrage_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, otherwise assigns the value to `lhs`, which may
// be a declaration (`auto x`) or an existing variable.
#define ASSIGN_OR_RETURN(lhs, expr) \
  VITRAGE_ASSIGN_OR_RETURN_IMPL_(VITRAGE_CONCAT_(vitrage_sor_, __LINE__), lhs, expr)

#define VITRAGE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#endif  // VITRAGE_COMMON_STATUS_MACROS_H_
