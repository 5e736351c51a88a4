#include "nodes/sql_check.h"

#include <re2/re2.h>

#include <cctype>
#include <cstring>
#include <memory>

#include "catalog/db.h"
#include "core/hash.h"

namespace loom::nodes {

using core::ErrorKind;

SqlGuard::SqlGuard(sqlite3* db, std::set<std::string> readTables, std::string insertTable)
    : m_db(db), m_read(std::move(readTables)), m_insert(std::move(insertTable)) {
  sqlite3_set_authorizer(m_db, &SqlGuard::authorize, this);
}

SqlGuard::~SqlGuard() { sqlite3_set_authorizer(m_db, nullptr, nullptr); }

int SqlGuard::authorize(void* self, int action, const char* a, const char* b, const char*, const char*) {
  auto* g = static_cast<SqlGuard*>(self);
  auto deny = [&](const std::string& what) {
    if (g->m_denied.empty()) g->m_denied = what;
    return SQLITE_DENY;
  };
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_READ:
      if (a && g->m_read.count(a)) return SQLITE_OK;
      // SQLite's table-valued JSON functions read only the value they are given.
      if (a && (std::strcmp(a, "json_each") == 0 || std::strcmp(a, "json_tree") == 0)) return SQLITE_OK;
      return deny(std::string("reading table ") + (a ? a : "?") + " is not allowed; only the node's input may be read");
    case SQLITE_INSERT:
      if (a && !g->m_insert.empty() && g->m_insert == a) return SQLITE_OK;
      return deny("writing is not allowed in a flow's SQL");
    case SQLITE_FUNCTION:
      if (b && (std::strcmp(b, "load_extension") == 0 || std::strcmp(b, "fts3_tokenizer") == 0))
        return deny(std::string("function ") + b + "() is not allowed");
      return SQLITE_OK;
    default:
      return deny("only expressions over the input's columns are allowed (no statements, PRAGMA or ATTACH)");
  }
}

namespace {

void loomHash(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  uint64_t seed = static_cast<uint64_t>(sqlite3_value_int64(argv[0]));
  const unsigned char* t = sqlite3_value_text(argv[1]);
  int n = sqlite3_value_bytes(argv[1]);
  std::string_view v(t ? reinterpret_cast<const char*>(t) : "", t ? static_cast<size_t>(n) : 0);
  sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(core::fnv1a64(v, seed) >> 1));
}

// Options for every regular expression a flow carries. RE2 rather than std::regex: RE2 matches in time
// linear in the input and bounded memory, while libstdc++'s regex backtracks exponentially on patterns
// like (a+)+b and recurses once per character (a long value overflows the stack).
RE2::Options regexpOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(kMaxRegexpMemory);
  return o;
}

// loom_regexp(pattern, value): 1 when the pattern is found in the value's text, 0 when not, NULL when
// either is NULL. The compiled pattern is kept per statement (SQLite's auxdata), compiled once.
void loomRegexp(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
    sqlite3_result_null(ctx);
    return;
  }
  std::unique_ptr<RE2> fresh;
  auto* re = static_cast<RE2*>(sqlite3_get_auxdata(ctx, 0));
  if (!re) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
    const std::string_view pattern(p ? p : "", static_cast<size_t>(sqlite3_value_bytes(argv[0])));
    if (auto bad = checkRegexp(pattern); !bad.ok()) {
      sqlite3_result_error(ctx, bad.error().message.c_str(), -1);
      return;
    }
    fresh = std::make_unique<RE2>(pattern, regexpOptions());
    re = fresh.get();
  }
  const auto* v = reinterpret_cast<const char*>(sqlite3_value_text(argv[1]));
  const std::string_view value(v ? v : "", static_cast<size_t>(sqlite3_value_bytes(argv[1])));
  sqlite3_result_int(ctx, RE2::PartialMatch(value, *re) ? 1 : 0);
  // Last: SQLite may free the pattern at once, inside this call.
  if (fresh) sqlite3_set_auxdata(ctx, 0, fresh.release(), [](void* r) { delete static_cast<RE2*>(r); });
}

bool onlySpace(const char* p) {
  for (; p && *p; ++p)
    if (!std::isspace(static_cast<unsigned char>(*p))) return false;
  return true;
}

// Where `sql` would reach outside the parentheses or the statement it is wrapped in, or "" when it
// stays inside. SQLite does not expose its tokenizer, so this follows its lexical rules for what
// matters here: strings, quoted identifiers and comments, outside of which parentheses are counted.
std::string escapesItsWrapping(const std::string& sql) {
  int depth = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    auto skipTo = [&](char close, bool doubledEscapes) {
      for (++i; i < sql.size(); ++i) {
        if (sql[i] != close) continue;
        if (doubledEscapes && i + 1 < sql.size() && sql[i + 1] == close) {
          ++i;
          continue;
        }
        return;
      }
    };
    if (c == '\0') return "holds a NUL byte";
    if (c == '\'' || c == '"' || c == '`') {
      skipTo(c, true);
    } else if (c == '[') {
      skipTo(']', false);
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const size_t end = sql.find("*/", i + 2);
      if (end == std::string::npos) return "opens a /* comment it does not close";
      i = end + 1;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth < 0) {
      return "closes a parenthesis it did not open (at character " + std::to_string(i + 1) + ")";
    }
  }
  return {};
}

}  // namespace

core::Result<void> checkRegexp(std::string_view pattern) {
  if (pattern.size() > kMaxRegexpBytes)
    return core::makeError(ErrorKind::InvalidFlow, "the regular expression is " + std::to_string(pattern.size()) +
                                                       " bytes; at most " + std::to_string(kMaxRegexpBytes) + " are allowed");
  RE2 re(pattern, regexpOptions());
  if (!re.ok())
    return core::makeError(ErrorKind::InvalidFlow, "invalid regular expression `" + std::string(pattern) + "`: " +
                                                       re.error() + " (RE2 syntax: no back-references or look-around)");
  return {};
}

void registerSqlFunctions(sqlite3* db) {
  // json_each/json_tree are eponymous virtual tables that SQLite sets up on first use by touching the
  // schema, which a SqlGuard refuses: set them up now, before any guard is installed.
  sqlite3_exec(db, "SELECT 1 FROM json_each('[]'), json_tree('[]')", nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db, "loom_hash", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr,
                             &loomHash, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db, "loom_regexp", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr,
                             &loomRegexp, nullptr, nullptr, nullptr);
}

core::Result<void> checkSql(const core::Schema& schema, const std::string& sql, SqlPiece piece) {
  if (sql.find_first_not_of(" \t\r\n") == std::string::npos)
    return core::makeError(ErrorKind::InvalidFlow, "is empty; write an SQL expression over the input's columns");
  // The NUL check comes first: everything after a NUL would be invisible to SQLite's check below.
  if (auto escape = escapesItsWrapping(sql); !escape.empty())
    return core::makeError(ErrorKind::InvalidFlow,
                           escape + " in `" + sql + "`; write one SQL " +
                               (piece == SqlPiece::OrderBy ? "ORDER BY list" : "expression") + " over the input's columns");
  catalog::configureSqlite();
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return core::makeError(ErrorKind::Internal, "cannot open an in-memory SQLite database");
  }
  registerSqlFunctions(db);
  std::string ddl = "CREATE TABLE input(_row INTEGER PRIMARY KEY, _src INTEGER";
  std::string names;
  for (const auto& c : schema.columns()) {
    ddl += ", " + core::quoteIdent(c.name) + " " + core::sqlTypeName(c.type);
    names += (names.empty() ? "" : ", ") + c.name;
  }
  ddl += ")";
  sqlite3_exec(db, ddl.c_str(), nullptr, nullptr, nullptr);

  // The same wrapping as the executor uses, so what passes here is exactly what runs.
  std::string stmt = piece == SqlPiece::Condition    ? "SELECT 1 FROM input WHERE (" + sql + "\n) ORDER BY _row"
                     : piece == SqlPiece::Expression ? "SELECT (" + sql + "\n) FROM input"
                                                     : "SELECT 1 FROM input ORDER BY " + sql + "\n, _row";
  core::Result<void> result;
  {
    SqlGuard guard(db, {"input"});
    sqlite3_stmt* s = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db, stmt.c_str(), static_cast<int>(stmt.size()), &s, &tail);
    if (rc != SQLITE_OK) {
      std::string msg = guard.denied().empty() ? sqlite3_errmsg(db) : guard.denied();
      result = core::makeError(ErrorKind::InvalidFlow,
                               msg + " in `" + sql + "` (columns: " + (names.empty() ? "none" : names) + ")");
    } else if (!onlySpace(tail)) {
      result = core::makeError(ErrorKind::InvalidFlow,
                               "must be a single SQL expression; found more after it in `" + sql + "`");
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return result;
}

}  // namespace loom::nodes
