// sql: any text given as a filter condition, a derived column's expression or a sort order goes
// through checkSql (what validation runs) over a fixed schema; when accepted, it runs the way the
// executor runs it (one INSERT … SELECT under the same SqlGuard, with Loom's SQL functions) over a
// few rows in an in-memory SQLite, with a time limit. Properties: a refusal says why; what the check
// accepts compiles when run; running it reads only the input and writes only the node's output.

#include <sqlite3.h>

#include <chrono>

#include "fuzz_targets.h"
#include "nodes/sql_check.h"

namespace loom::fuzz {

namespace {

using core::ColumnType;

const core::Schema& fixedSchema() {
  static const core::Schema s = [] {
    core::Schema out;
    for (const auto& [name, type] : {std::pair{"uri", ColumnType::Text}, {"name", ColumnType::Text},
                                     {"mime", ColumnType::Text}, {"size", ColumnType::Integer},
                                     {"mtime", ColumnType::Integer}, {"width", ColumnType::Integer},
                                     {"height", ColumnType::Integer}, {"duration", ColumnType::Real},
                                     {"fps", ColumnType::Real}, {"embedding", ColumnType::Blob},
                                     {"label", ColumnType::Any}, {"error", ColumnType::Text}})
      out.set({name, type, ""});
    return out;
  }();
  return s;
}

// Rows with the values that make expressions misbehave: nulls, extremes, non-ASCII text, blobs.
constexpr const char* kRows =
    "INSERT INTO input VALUES"
    "(1, NULL, 'file:///d/a.jpg', 'a.jpg', 'image/jpeg', 1024, 1700000000000000000, 4000, 3000, NULL, NULL,"
    " NULL, 'cat', NULL),"
    "(2, NULL, 's3://b/v%20x.mp4', 'v x.mp4', 'video/mp4', 9223372036854775807, 0, 1920, 1080, 12.5, 29.97,"
    " x'0000803f000000c0', 3, NULL),"
    "(3, NULL, 'az://c/d/\xc3\xa9t\xc3\xa9.txt', '\xc3\xa9t\xc3\xa9.txt', 'text/plain', -1, -9223372036854775808,"
    " NULL, NULL, -0.0, 1e308, x'', 2.5, 'could not decode'),"
    "(4, NULL, '', '', NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL)";

struct Deadline {
  std::chrono::steady_clock::time_point end;
};

int pastDeadline(void* d) { return std::chrono::steady_clock::now() > static_cast<Deadline*>(d)->end ? 1 : 0; }

std::string exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return {};
  std::string msg = err ? err : "?";
  sqlite3_free(err);
  return msg;
}

int64_t count(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return n;
}

// Runs an accepted piece as the executor would; "" or what went wrong that must not.
std::string runAccepted(unsigned kind, const std::string& piece) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return {};  // out of memory: nothing to learn
  }
  nodes::registerSqlFunctions(db);
  std::string cols, ddl;
  for (const auto& c : fixedSchema().columns()) {
    cols += ", " + core::quoteIdent(c.name);
    ddl += ", " + core::quoteIdent(c.name) + " " + core::sqlTypeName(c.type);
  }
  std::string problem = exec(db, "CREATE TABLE input(_row INTEGER PRIMARY KEY, _src INTEGER" + ddl + ");" +
                                     "CREATE TABLE out(_row INTEGER PRIMARY KEY, _src INTEGER" + ddl + ", derived);" +
                                     kRows);
  if (!problem.empty()) {
    sqlite3_close(db);
    return "the fixture does not build: " + problem;
  }
  // The statements of table.filter, table.derive and table.sort (nodes/table_nodes.cpp) as the
  // executor wraps them (NodeContext::insertSelect).
  std::string select;
  if (kind == 0) select = "SELECT _row" + cols + " FROM input WHERE (" + piece + "\n) ORDER BY _row";
  else if (kind == 1) select = "SELECT _row" + cols + ", (" + piece + "\n) FROM input ORDER BY _row";
  else select = "SELECT _row" + cols + " FROM input ORDER BY " + piece + "\n, _row";
  const std::string insert =
      "INSERT INTO out(_src" + cols + (kind == 1 ? ", derived" : "") + ") " + select;
  sqlite3_stmt* stmt = nullptr;
  {
    nodes::SqlGuard guard(db, {"input"}, "out");
    if (sqlite3_prepare_v2(db, insert.c_str(), static_cast<int>(insert.size()), &stmt, nullptr) != SQLITE_OK) {
      problem = "accepted by the check but refused when run: " +
                (guard.denied().empty() ? std::string(sqlite3_errmsg(db)) : guard.denied());
    }
  }
  if (problem.empty()) {
    Deadline d{std::chrono::steady_clock::now() + std::chrono::milliseconds(250)};
    sqlite3_progress_handler(db, 1000, &pastDeadline, &d);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
    }
    sqlite3_progress_handler(db, 0, nullptr, nullptr);
    // A run-time error (an overflow, the time limit) fails the node, which is fine; touching
    // anything but its own output is not.
    if (count(db, "SELECT count(*) FROM input") != 4) problem = "the input table changed";
    else if (count(db, "SELECT count(*) FROM sqlite_master") != 2) problem = "the database's schema changed";
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return problem;
}

}  // namespace

Outcome fuzzSql(std::string_view input) {
  Outcome out;
  if (input.empty()) input = std::string_view("\0", 1);
  const unsigned kind = static_cast<unsigned char>(input[0]) % 3;
  const std::string piece(input.substr(1));
  const nodes::SqlPiece pieces[] = {nodes::SqlPiece::Condition, nodes::SqlPiece::Expression, nodes::SqlPiece::OrderBy};
  auto checked = nodes::checkSql(fixedSchema(), piece, pieces[kind]);
  if (!checked.ok()) {
    out.error = checked.error().message;
    return out;
  }
  out.accepted = true;
  out.broken = runAccepted(kind, piece);
  return out;
}

}  // namespace loom::fuzz
