#pragma once
// Thin RAII wrapper over sqlite3 (hand-written: the few C++ SQLite wrappers in Debian add nothing we
// need over ~150 lines). A Db is used by one thread at a time; each thread that needs the catalog
// opens its own Db.

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/value.h"

namespace loom::catalog {

class Stmt;

// Process-wide SQLite settings; called by Db::open() and by anything else that opens SQLite first.
void configureSqlite();

// What a person can do about a failed SQLite call on the catalog at `path`: "the disk holding the
// catalog is full: …", "the catalog is read-only: …", "another process …"; empty when SQLite's own
// message says all there is (a bad statement). `rc` is the extended result code.
std::string catalogFailureAdvice(sqlite3* db, int rc);

// Why the catalog file at `path` (or its folder, where SQLite keeps the -wal and -shm files) cannot be
// written by this process: "it is on a read-only file system", "this user may not write …"; empty
// when it can (or does not exist yet and its folder is writable).
std::string catalogUnwritableReason(const std::string& path);

class Db {
 public:
  // Opens (creating if asked) with WAL, a busy timeout and foreign keys on.
  static core::Result<std::unique_ptr<Db>> open(const std::string& path, bool create);
  // Opens an existing catalog that cannot be written (see catalogUnwritableReason) for reading only.
  // SQLite reads a WAL database on read-only storage only through its -shm file, which it cannot
  // create there: when the -wal file is absent (the last writer closed cleanly, so everything is in the
  // main file) and the file system is read-only, nothing can change the file while it is open, and it
  // is opened as immutable; when the -wal and -shm files are there, they are read as they are.
  static core::Result<std::unique_ptr<Db>> openReadOnly(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return m_db; }
  const std::string& path() const { return m_path; }
  bool readOnly() const { return m_readOnly; }
  // Runs one or more statements with no results; throws RunError(Catalog) on failure.
  void exec(std::string_view sql);
  core::Result<void> tryExec(std::string_view sql);
  Stmt prepare(std::string_view sql);
  core::Result<Stmt> tryPrepare(std::string_view sql);
  int64_t lastInsertId() const { return sqlite3_last_insert_rowid(m_db); }
  int64_t changes() const { return sqlite3_changes64(m_db); }
  std::string errorMessage() const { return sqlite3_errmsg(m_db); }
  bool tableExists(std::string_view name);

 private:
  Db(sqlite3* db, std::string path, bool readOnly) : m_db(db), m_path(std::move(path)), m_readOnly(readOnly) {}
  sqlite3* m_db;
  std::string m_path;
  bool m_readOnly = false;
};

// A prepared statement. bind() indexes are 1-based like SQLite's; column() indexes are 0-based.
class Stmt {
 public:
  Stmt(sqlite3_stmt* s, sqlite3* db) : m_s(s), m_db(db) {}
  Stmt(Stmt&& o) noexcept : m_s(o.m_s), m_db(o.m_db) { o.m_s = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  ~Stmt();

  Stmt& bind(int i, std::nullptr_t);
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const core::Value& v);
  // Steps once: true when a row is available, false when done. Throws RunError(Catalog) on error.
  bool step();
  // Steps to completion, ignoring rows.
  void run();
  void reset();

  int columnCount() const { return sqlite3_column_count(m_s); }
  std::string columnName(int i) const { return sqlite3_column_name(m_s, i); }
  bool isNull(int i) const { return sqlite3_column_type(m_s, i) == SQLITE_NULL; }
  int64_t int64(int i) const { return sqlite3_column_int64(m_s, i); }
  double real(int i) const { return sqlite3_column_double(m_s, i); }
  std::string text(int i) const;
  core::Value value(int i) const;
  sqlite3_stmt* handle() const { return m_s; }

 private:
  sqlite3_stmt* m_s;
  sqlite3* m_db;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  void commit();

 private:
  Db& m_db;
  bool m_done = false;
};

}  // namespace loom::catalog
