#pragma once
// Checks the SQL pieces a flow file carries (filter conditions, derived-column expressions, sort
// orders) before they run. A flow file is data: its SQL may only read the node's input table and
// call SQLite's functions. Nothing else is allowed: no other table, no writes, no ATTACH, no PRAGMA,
// no extension loading, and exactly one expression (no trailing statements).

#include <sqlite3.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/value.h"

namespace loom::nodes {

// Restricts statements prepared on `db` while it lives: reads only from `readTables`, inserts only
// into `insertTable` (may be empty). Installs an SQLite authorizer; removes it on destruction.
class SqlGuard {
 public:
  SqlGuard(sqlite3* db, std::set<std::string> readTables, std::string insertTable = {});
  ~SqlGuard();
  SqlGuard(const SqlGuard&) = delete;
  SqlGuard& operator=(const SqlGuard&) = delete;
  const std::string& denied() const { return m_denied; }

  static int authorize(void* self, int action, const char* a, const char* b, const char* db, const char* trigger);

 private:
  sqlite3* m_db;
  std::set<std::string> m_read;
  std::string m_insert;
  std::string m_denied;
};

// Condition: a WHERE condition (table.filter); Expression: a value in a SELECT list (table.derive);
// OrderBy: an ORDER BY list (table.sort).
enum class SqlPiece { Condition, Expression, OrderBy };

// Prepares the piece against an empty in-memory table with `schema`'s columns (plus _row and _src),
// wrapped as the executor wraps it, so what passes here compiles when it runs. A piece must stay
// inside its wrapping: no parenthesis closed that it did not open, no comment left open, no NUL.
// The error message says what is wrong in the words SQLite uses ("no such column: widht") and lists
// the available columns.
core::Result<void> checkSql(const core::Schema& schema, const std::string& sql, SqlPiece piece);

// Registers Loom's SQL functions on a connection: loom_hash(seed, value) -> 63-bit integer;
// loom_regexp(pattern, value) -> 1 when the RE2 pattern is found in the value's text, 0 when not, NULL
// when either is NULL (an invalid pattern fails the statement: check it first with checkRegexp).
void registerSqlFunctions(sqlite3* db);

// Regular expressions in flows are RE2 patterns (linear-time matching: no back-references or
// look-around), at most kMaxRegexpBytes long, compiled within kMaxRegexpMemory.
constexpr size_t kMaxRegexpBytes = 4096;
constexpr int64_t kMaxRegexpMemory = 8 << 20;
// Ok, or an error (InvalidFlow) quoting the pattern and what RE2 says is wrong with it.
core::Result<void> checkRegexp(std::string_view pattern);

}  // namespace loom::nodes
