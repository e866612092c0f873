#include "persistor_service/mysql/connection.h"

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/resultset_metadata.h>
#include <cppconn/statement.h>
#include <mysql_driver.h>

#include <array>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"

namespace vitrage::persistor::mysql {
namespace {

// Connector/C++ 1.1's driver instance and mysql_library_init are not safe to
// race; connecting is rare, so one lock is enough.
std::mutex& ConnectMutex() {
  static std::mutex mu;
  return mu;
}

// Error messages travel in proto3 `string` fields (valid UTF-8 only) and
// may quote blob bytes: keep printable ASCII.
std::string Printable(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

// Shortens a statement for error messages (blobs can be megabytes).
std::string Excerpt(absl::string_view sql) {
  constexpr size_t kMax = 120;
  if (sql.size() <= kMax) return Printable(sql);
  return absl::StrCat(Printable(sql.substr(0, kMax)), "...");
}

}  // namespace

bool IsConnectionError(int code) {
  switch (code) {
    case 2002:  // can't connect through socket
    case 2003:  // can't connect to server
    case 2005:  // unknown host
    case 2006:  // server has gone away
    case 2013:  // lost connection during query
    case 2055:  // lost connection (system error)
    case 2026:  // SSL connection error
    case 1040:  // too many connections
    case 1045:  // access denied (password changed?)
    case 1047:  // Galera: WSREP has not yet prepared node for application use
    case 1053:  // server shutdown in progress
    case 1927:  // connection was killed
    case 1180:  // Galera: not connected to primary component at commit
      return true;
    default:
      return false;
  }
}

absl::Status StatusFromMysqlError(int code, absl::string_view sqlstate, absl::string_view message,
                                  absl::string_view server, absl::string_view context) {
  static auto& errors = vitrage::metrics::Counter("vitrage_persistor_mysql_errors_total",
                                                  "MySQL errors seen by the persistor");
  errors.Increment();
  std::string text = Printable(absl::StrCat("mysql ", server, ": error ", code, " (", sqlstate,
                                            ") ", message, " [", context, "]"));
  if (IsConnectionError(code)) return absl::UnavailableError(text);
  switch (code) {
    case 1213:
    case 1205:
      return absl::AbortedError(text);
    case 1062:
      return absl::AlreadyExistsError(text);
    default:
      return absl::InternalError(text);
  }
}

Connection::Connection(std::unique_ptr<sql::Connection> conn, std::string server)
    : conn_(std::move(conn)), server_(std::move(server)) {}

Connection::~Connection() {
  try {
    prepared_.clear();
  } catch (const std::exception&) {
    // Closing a statement of a dead connection may throw.
  }
  if (conn_ != nullptr) {
    try {
      conn_->close();
    } catch (const std::exception&) {
      // Closing a dead connection may throw; there is nothing to do.
    }
  }
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectOptions& options) {
  const DatabaseUrl& url = options.url;
  std::string server = url.Redacted();
  std::unique_ptr<sql::Connection> conn;
  try {
    sql::ConnectOptionsMap props;
    if (!url.unix_socket.empty()) {
      props["hostName"] = sql::SQLString("unix://" + url.unix_socket);
    } else {
      props["hostName"] = sql::SQLString(absl::StrCat("tcp://", url.host, ":", url.port));
    }
    props["userName"] = sql::SQLString(url.user);
    props["password"] = sql::SQLString(url.password);
    props["schema"] = sql::SQLString(url.database);
    int connect_s = std::max<int>(1, absl::ToInt64Seconds(options.connect_timeout));
    int read_s = std::max<int>(1, absl::ToInt64Seconds(options.read_timeout));
    props["OPT_CONNECT_TIMEOUT"] = connect_s;
    props["OPT_READ_TIMEOUT"] = read_s;
    props["OPT_WRITE_TIMEOUT"] = read_s;
    props["OPT_RECONNECT"] = false;
    {
      std::lock_guard<std::mutex> lock(ConnectMutex());
      sql::mysql::MySQL_Driver* driver = sql::mysql::get_mysql_driver_instance();
      conn.reset(driver->connect(props));
    }
    conn->setAutoCommit(true);
    std::unique_ptr<sql::Statement> st(conn->createStatement());
    // Our literals rely on backslash escapes; pin the mode.
    st->execute(
        "SET SESSION sql_mode='STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION,"
        "NO_AUTO_VALUE_ON_ZERO'");
    st->execute("SET SESSION time_zone='+00:00'");
    // Blobs are sent as plain string literals: a binary connection charset
    // means no conversion and no multi-byte scanning in the lexer (cheaper
    // per row), and results come back as raw bytes.
    st->execute("SET NAMES binary");
  } catch (const sql::SQLException& e) {
    return StatusFromMysqlError(e.getErrorCode(), e.getSQLState(), e.what(), server, "connect");
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("mysql ", server, ": cannot connect: ", e.what()));
  }
  // Galera: reads must see every write acked by another node. Ignored on a
  // plain server that lacks the variable.
  try {
    std::unique_ptr<sql::Statement> st(conn->createStatement());
    st->execute("SET SESSION wsrep_sync_wait=1");
  } catch (const sql::SQLException&) {
  }
  return std::unique_ptr<Connection>(new Connection(std::move(conn), std::move(server)));
}

absl::Status Connection::StatementError(const std::exception& ex, const std::string& sql) {
  const auto* e = dynamic_cast<const sql::SQLException*>(&ex);
  if (e == nullptr) {
    broken_ = true;
    return absl::InternalError(
        Printable(absl::StrCat("mysql ", server_, ": ", ex.what(), " [", Excerpt(sql), "]")));
  }
  if (IsConnectionError(e->getErrorCode()) || e->getErrorCode() == 0) broken_ = true;
  if (e->getErrorCode() == 0) {
    return absl::UnavailableError(
        Printable(absl::StrCat("mysql ", server_, ": ", e->what(), " [", Excerpt(sql), "]")));
  }
  return StatusFromMysqlError(e->getErrorCode(), e->getSQLState(), e->what(), server_,
                              Excerpt(sql));
}

absl::StatusOr<uint64_t> Connection::ExecutePrepared(
    const std::string& sql, const std::function<void(sql::PreparedStatement*)>& bind) {
  if (broken_) {
    return absl::UnavailableError(absl::StrCat("mysql ", server_, ": connection is broken"));
  }
  try {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      if (prepared_.size() >= kMaxPrepared) prepared_.erase(prepared_.begin());
      std::unique_ptr<sql::PreparedStatement> st(conn_->prepareStatement(sql));
      it = prepared_.emplace(sql, std::move(st)).first;
    }
    sql::PreparedStatement* st = it->second.get();
    bind(st);
    int affected = st->executeUpdate();
    return static_cast<uint64_t>(affected < 0 ? 0 : affected);
  } catch (const std::exception& e) {
    return StatementError(e, sql);
  }
}

absl::StatusOr<uint64_t> Connection::Execute(const std::string& sql) {
  if (broken_) {
    return absl::UnavailableError(absl::StrCat("mysql ", server_, ": connection is broken"));
  }
  try {
    std::unique_ptr<sql::Statement> st(conn_->createStatement());
    int affected = st->executeUpdate(sql);
    return static_cast<uint64_t>(affected < 0 ? 0 : affected);
  } catch (const sql::SQLException& e) {
    if (IsConnectionError(e.getErrorCode()) || e.getErrorCode() == 0) {
      broken_ = true;
    }
    if (e.getErrorCode() == 0) {
      return absl::UnavailableError(
          Printable(absl::StrCat("mysql ", server_, ": ", e.what(), " [", Excerpt(sql), "]")));
    }
    return StatusFromMysqlError(e.getErrorCode(), e.getSQLState(), e.what(), server_, Excerpt(sql));
  } catch (const std::exception& e) {
    broken_ = true;
    return absl::InternalError(
        Printable(absl::StrCat("mysql ", server_, ": ", e.what(), " [", Excerpt(sql), "]")));
  }
}

absl::StatusOr<std::vector<Row>> Connection::Query(const std::string& sql) {
  if (broken_) {
    return absl::UnavailableError(absl::StrCat("mysql ", server_, ": connection is broken"));
  }
  try {
    std::unique_ptr<sql::Statement> st(conn_->createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
    const unsigned columns = rs->getMetaData()->getColumnCount();
    std::vector<Row> rows;
    rows.reserve(rs->rowsCount());
    while (rs->next()) {
      Row row(columns);
      for (unsigned i = 0; i < columns; ++i) {
        if (!rs->isNull(i + 1)) {
          // getString returns a fresh SQLString: move its bytes out rather
          // than copy them (chunks are megabytes).
          sql::SQLString cell = rs->getString(i + 1);
          row[i] = std::move(const_cast<std::string&>(cell.asStdString()));
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  } catch (const sql::SQLException& e) {
    if (IsConnectionError(e.getErrorCode()) || e.getErrorCode() == 0) {
      broken_ = true;
    }
    if (e.getErrorCode() == 0) {
      return absl::UnavailableError(
          Printable(absl::StrCat("mysql ", server_, ": ", e.what(), " [", Excerpt(sql), "]")));
    }
    return StatusFromMysqlError(e.getErrorCode(), e.getSQLState(), e.what(), server_, Excerpt(sql));
  } catch (const std::exception& e) {
    broken_ = true;
    return absl::InternalError(
        Printable(absl::StrCat("mysql ", server_, ": ", e.what(), " [", Excerpt(sql), "]")));
  }
}

absl::Status Connection::Ping() {
  // A plain MariaDB also reports wsrep_ready (OFF) and wsrep_cluster_status
  // (Disconnected): only a server with wsrep_on = ON is a Galera node.
  absl::StatusOr<std::vector<Row>> on = Query("SHOW VARIABLES WHERE Variable_name = 'wsrep_on'");
  if (!on.ok()) return on.status();
  const bool galera =
      !on->empty() && on->front().size() >= 2 && on->front()[1].value_or("") == "ON";
  if (!galera) return Query("SELECT 1").status();
  absl::StatusOr<std::vector<Row>> rows = Query(
      "SHOW STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status',"
      " 'wsrep_local_state_comment')");
  if (!rows.ok()) return rows.status();
  std::string ready, cluster, state;
  for (const Row& r : *rows) {
    if (r.size() < 2 || !r[0].has_value()) continue;
    const std::string value = r[1].value_or("");
    if (*r[0] == "wsrep_ready") ready = value;
    if (*r[0] == "wsrep_cluster_status") cluster = value;
    if (*r[0] == "wsrep_local_state_comment") state = value;
  }
  if (ready != "ON") {
    return absl::UnavailableError(
        absl::StrCat("mysql ", server_, ": Galera node not ready for queries (wsrep_ready=", ready,
                     ", wsrep_cluster_status=", cluster, ", state ", state,
                     "): it is not in the primary component (quorum lost?) or not synced"));
  }
  return Query("SELECT 1").status();
}

void Connection::Rollback() {
  if (broken_) return;
  (void)Execute("ROLLBACK");
}

void AppendBlobLiteral(absl::string_view bytes, std::string* sql) {
  // The escape of each byte (0: none). A journal batch passes through here
  // whole, so the bytes are written through a pointer into room made once
  // (at most two output bytes per input byte), not appended one by one.
  static constexpr auto kEscape = [] {
    std::array<char, 256> t{};
    t[static_cast<unsigned char>('\0')] = '0';
    t[static_cast<unsigned char>('\n')] = 'n';
    t[static_cast<unsigned char>('\r')] = 'r';
    t[static_cast<unsigned char>('\\')] = '\\';
    t[static_cast<unsigned char>('\'')] = '\'';
    t[static_cast<unsigned char>('"')] = '"';
    t[static_cast<unsigned char>('\032')] = 'Z';
    return t;
  }();
  const size_t at = sql->size();
  sql->resize(at + 2 * bytes.size() + 2);
  char* out = sql->data() + at;
  *out++ = '\'';
  for (char c : bytes) {
    const char e = kEscape[static_cast<unsigned char>(c)];
    if (e != 0) {
      *out++ = '\\';
      *out++ = e;
    } else {
      *out++ = c;
    }
  }
  *out++ = '\'';
  sql->resize(static_cast<size_t>(out - sql->data()));
}

std::string QuoteString(absl::string_view text) {
  // Text columns are utf8mb4 and the connection sends bytes: keep printable
  // ASCII so that any input is a valid string.
  std::string out;
  AppendBlobLiteral(Printable(text), &out);
  return out;
}

absl::StatusOr<uint64_t> CellToUint(const std::optional<std::string>& cell,
                                    absl::string_view what) {
  uint64_t v = 0;
  if (!cell.has_value() || !absl::SimpleAtoi(*cell, &v)) {
    return absl::InternalError(
        absl::StrCat("unexpected value for ", what, ": ", cell ? *cell : "NULL"));
  }
  return v;
}

absl::StatusOr<double> CellToDouble(const std::optional<std::string>& cell,
                                    absl::string_view what) {
  double v = 0;
  if (!cell.has_value() || !absl::SimpleAtod(*cell, &v)) {
    return absl::InternalError(
        absl::StrCat("unexpected value for ", what, ": ", cell ? *cell : "NULL"));
  }
  return v;
}

}  // namespace vitrage::persistor::mysql
