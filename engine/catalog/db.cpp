#include "catalog/db.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace loom::catalog {

namespace fs = std::filesystem;
using core::ErrorKind;
using core::RunError;

std::string catalogFailureAdvice(sqlite3* db, int rc) {
  const int primary = rc & 0xff;
  // The OS error behind an I/O failure; only meaningful right after one.
  const int sys = db && (primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_CANTOPEN)
                      ? sqlite3_system_errno(db)
                      : 0;
  if (primary == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT)
    return "the disk holding the catalog is full: free some space and run again; the work committed so far is kept "
           "and a run goes on where it stopped";
  if (primary == SQLITE_READONLY || sys == EROFS)
    return "the catalog is read-only: remount its file system read-write or fix its permissions to write to it; "
           "reading it still works";
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    return "another process (the desktop app or another loom-cli) held the catalog's write lock for more than 30 s: "
           "try again when it has finished";
  if (primary == SQLITE_IOERR)
    return std::string("the file system reported an error") + (sys ? std::string(": ") + std::strerror(sys) : "");
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB)
    return "the catalog file is damaged; restore it from a backup";
  return {};
}

std::string catalogUnwritableReason(const std::string& path) {
  std::error_code ec;
  const fs::path file(path);
  fs::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  auto why = [&](const fs::path& p) -> std::string {
    if (::access(p.c_str(), W_OK) == 0) return {};
    const int e = errno;
    if (e == ENOENT) return {};  // nothing there yet: creating it is another question
    if (e == EROFS) return "it is on a read-only file system";
    if (e == EACCES || e == EPERM) return "this user may not write " + p.string();
    return std::string("it cannot be written: ") + std::strerror(e);
  };
  // SQLite writes the -wal and -shm files beside the catalog, so the folder must be writable too.
  if (fs::exists(file, ec)) {
    if (auto w = why(file); !w.empty()) return w;
  }
  return why(dir);
}

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

namespace {

// A path as the path of a file: URI (RFC 3986 with SQLite's reading): only what would end or
// escape the path needs encoding.
std::string fileUri(const std::string& path) {
  std::string out = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#')
      out += c == '%' ? "%25" : c == '?' ? "%3f" : "%23";
    else
      out += c;
  }
  return out;
}

}  // namespace

core::Result<std::unique_ptr<Db>> Db::openReadOnly(const std::string& path) {
  configureSqlite();
  std::error_code ec;
  const bool hasWal = fs::exists(path + "-wal", ec);
  struct statvfs vfs{};
  const bool readOnlyFs = ::statvfs(path.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
  const std::string uri = fileUri(path) + "?mode=ro" + (readOnlyFs && !hasWal ? "&immutable=1" : "");
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return core::makeError(ErrorKind::Catalog, "cannot open catalog " + path + " for reading: " + msg);
  }
  std::unique_ptr<Db> out(new Db(db, path, true));
  sqlite3_busy_timeout(db, 30000);
  sqlite3_extended_result_codes(db, 1);
  // SQLite opens lazily: read the schema now, so a catalog that cannot be read fails here with its reason.
  for (const char* sql : {"PRAGMA foreign_keys=ON", "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-65536",
                          "SELECT count(*) FROM sqlite_master"}) {
    auto r = out->tryExec(sql);
    if (r.ok()) continue;
    if (!fs::exists(path + "-shm", ec))
      return core::makeError(ErrorKind::Catalog,
                             "cannot read catalog " + path + ": it cannot be written (" + catalogUnwritableReason(path) +
                                 "), and SQLite reads a catalog in WAL mode through a file " + path +
                                 "-shm that it cannot create there" +
                                 (hasWal ? " (its last writer did not close it, so " + path + "-wal holds changes)" : "") +
                                 ". Open it once with write access, or copy it (with any -wal file) to a folder you "
                                 "can write: " + r.error().message);
    return core::makeError(ErrorKind::Catalog, "cannot read catalog " + path + ": " + r.error().message);
  }
  return out;
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
  std::unique_ptr<Db> out(new Db(db, path, false));
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
    rc = sqlite3_extended_errcode(m_db);
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    if (auto advice = catalogFailureAdvice(m_db, rc); !advice.empty()) msg += " (" + advice + ")";
    return core::makeError((rc & 0xff) == SQLITE_INTERRUPT ? ErrorKind::Cancelled : ErrorKind::Catalog, msg);
  }
  return {};
}

void Db::exec(std::string_view sql) {
  auto r = tryExec(sql);
  if (!r.ok()) throw RunError(r.error().kind, "catalog " + m_path + ": " + r.error().message);
}

core::Result<Stmt> Db::tryPrepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(m_db, sql.data(), static_cast<int>(sql.size()), 0, &s, &tail);
  if (rc != SQLITE_OK) {
    // Preparing reads the schema, so a damaged or vanished catalog can fail here too.
    std::string msg = sqlite3_errmsg(m_db);
    if (auto advice = catalogFailureAdvice(m_db, sqlite3_extended_errcode(m_db)); !advice.empty())
      msg += " (" + advice + ")";
    return core::makeError(ErrorKind::Catalog, msg);
  }
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
  if ((rc & 0xff) == SQLITE_INTERRUPT) throw RunError(ErrorKind::Cancelled, msg);
  const char* file = sqlite3_db_filename(m_db, "main");
  msg = "catalog " + std::string(file && *file ? file : "(in memory)") + ": " + msg;
  // What the person can do decides the message; the statement only helps when Loom itself is at fault.
  if (auto advice = catalogFailureAdvice(m_db, rc); !advice.empty()) throw RunError(ErrorKind::Catalog, msg + " (" + advice + ")");
  const char* sql = sqlite3_sql(m_s);
  throw RunError(ErrorKind::Catalog, msg + (sql ? std::string(" [") + sql + "]" : std::string()));
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
