#include "catalog/db.h"

#include <cstring>

namespace loom::catalog {

using core::ErrorKind;
using core::RunError;

void configureSqlite() {
  // SQLite keeps global memory statistics behind a mutex taken on every allocation; Loom never reads
  // them, and the mutex was the largest single cost of indexing. Must run before SQLite initialises;
  // later calls are refused by SQLite and harmless.
  static const bool done = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)done;
}

core::Result<std::unique_ptr<Db>> Db::open(const std::string& path, bool create) {
  configureSqlite();
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    if (!create && rc == SQLITE_CANTOPEN)
      return core::makeError(ErrorKind::NotFound, "catalog not found: " + path +
                                                      " (create one with `loom-cli index` or `loom-cli run`)");
    return core::makeError(ErrorKind::Catalog, "cannot open catalog " + path + ": " + msg +
                                                   " (check that the folder exists and is writable)");
  }
  std::unique_ptr<Db> out(new Db(db, path));
  // Two processes (GUI and CLI) may share a catalog: WAL lets readers run beside one writer, and the
  // busy timeout makes a second writer wait instead of failing at once.
  sqlite3_busy_timeout(db, 30000);
  sqlite3_extended_result_codes(db, 1);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
                             "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-65536"}) {
    auto r = out->tryExec(pragma);
    if (!r.ok())
      return core::makeError(ErrorKind::Catalog, "cannot open catalog " + path + ": " + r.error().message);
  }
  return out;
}

Db::~Db() { sqlite3_close_v2(m_db); }

core::Result<void> Db::tryExec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  int rc = sqlite3_exec(m_db, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return core::makeError(ErrorKind::Catalog, msg);
  }
  return {};
}

void Db::exec(std::string_view sql) {
  auto r = tryExec(sql);
  if (!r.ok()) throw RunError(ErrorKind::Catalog, "catalog " + m_path + ": " + r.error().message);
}

core::Result<Stmt> Db::tryPrepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(m_db, sql.data(), static_cast<int>(sql.size()), 0, &s, &tail);
  if (rc != SQLITE_OK) return core::makeError(ErrorKind::Catalog, sqlite3_errmsg(m_db));
  return Stmt(s, m_db);
}

Stmt Db::prepare(std::string_view sql) {
  auto r = tryPrepare(sql);
  if (!r.ok())
    throw RunError(ErrorKind::Catalog, "catalog " + m_path + ": " + r.error().message + " in: " + std::string(sql));
  return std::move(r).value();
}

bool Db::tableExists(std::string_view name) {
  auto s = prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
  s.bind(1, name);
  return s.step();
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(m_s);
    m_s = o.m_s;
    m_db = o.m_db;
    o.m_s = nullptr;
  }
  return *this;
}

Stmt::~Stmt() { sqlite3_finalize(m_s); }

Stmt& Stmt::bind(int i, std::nullptr_t) {
  sqlite3_bind_null(m_s, i);
  return *this;
}
Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(m_s, i, v);
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  sqlite3_bind_double(m_s, i, v);
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text64(m_s, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Stmt& Stmt::bind(int i, const core::Value& v) {
  struct Binder {
    Stmt& s;
    int i;
    void operator()(std::monostate) { s.bind(i, nullptr); }
    void operator()(int64_t x) { s.bind(i, x); }
    void operator()(double x) { s.bind(i, x); }
    void operator()(const std::string& x) { s.bind(i, std::string_view(x)); }
    void operator()(const core::BlobValue& b) {
      sqlite3_bind_blob64(s.m_s, i, b.bytes.data(), b.bytes.size(), SQLITE_TRANSIENT);
    }
  };
  std::visit(Binder{*this, i}, v);
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(m_s);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = sqlite3_errmsg(m_db);
  const char* sql = sqlite3_sql(m_s);
  ErrorKind kind = ErrorKind::Catalog;
  if ((rc & 0xff) == SQLITE_FULL) msg += " (the disk is full: free space and run again; committed work is kept)";
  if ((rc & 0xff) == SQLITE_READONLY) msg += " (the catalog is read-only: check its permissions)";
  if ((rc & 0xff) == SQLITE_INTERRUPT) kind = ErrorKind::Cancelled;
  throw RunError(kind, std::string(msg) + (sql ? std::string(" [") + sql + "]" : std::string()));
}

void Stmt::run() {
  while (step()) {
  }
}

void Stmt::reset() {
  sqlite3_reset(m_s);
  sqlite3_clear_bindings(m_s);
}

std::string Stmt::text(int i) const {
  const unsigned char* p = sqlite3_column_text(m_s, i);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(m_s, i)));
}

core::Value Stmt::value(int i) const {
  switch (sqlite3_column_type(m_s, i)) {
    case SQLITE_INTEGER: return int64(i);
    case SQLITE_FLOAT: return real(i);
    case SQLITE_TEXT: return text(i);
    case SQLITE_BLOB: {
      const void* p = sqlite3_column_blob(m_s, i);
      int n = sqlite3_column_bytes(m_s, i);
      return core::BlobValue{std::string(static_cast<const char*>(p), static_cast<size_t>(n))};
    }
    default: return std::monostate{};
  }
}

Transaction::Transaction(Db& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!m_done) (void)m_db.tryExec("ROLLBACK");
}
void Transaction::commit() {
  m_db.exec("COMMIT");
  m_done = true;
}

}  // namespace loom::catalog
