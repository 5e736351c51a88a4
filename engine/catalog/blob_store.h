#pragma once
// The content-addressed store for derived binary outputs (thumbnails, frames, crops): files named by
// the SHA-256 of their bytes in a folder beside the catalog (`<catalog>.data/blobs/ab/abcdef…`), so a
// dataset row references a blob by hash and the same bytes are stored once. Writes are atomic
// (temporary file + rename) and idempotent, so any number of threads and processes may put at once.
// A BlobStore holds only its folder path: copy it freely, use it from any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace loom::catalog {

class Catalog;
class Db;

class BlobStore {
 public:
  explicit BlobStore(std::string dir) : m_dir(std::move(dir)) {}
  // The store that belongs to a catalog: `<catalog dataDir>/blobs`.
  static BlobStore forCatalog(const Catalog& catalog);

  const std::string& dir() const { return m_dir; }
  // Stores the bytes (if not there yet) and returns their SHA-256 in lowercase hex. `durable`: fsync
  // before returning; callers that store many blobs pass false and call sync() once before committing
  // the rows that reference them (one fsync per blob made a thumbnail run I/O-bound).
  core::Result<std::string> put(std::string_view bytes, bool durable = true) const;
  // Flushes everything written to the store's file system to disk (syncfs).
  core::Result<void> sync() const;
  // Where the blob with this hash lives (whether or not it exists).
  std::string pathOf(std::string_view hash) const;
  bool contains(std::string_view hash) const;
  core::Result<std::string> get(std::string_view hash) const;
  // Records the blob in the catalog's `blobs` table (no-op if already recorded). Call inside the
  // transaction that writes the rows referencing it.
  static void record(Db& db, std::string_view hash, int64_t size, std::string_view mime);

 private:
  std::string m_dir;
};

// True for a 64-character lowercase hex string (what put() returns); guards pathOf() against paths.
bool isBlobHash(std::string_view hash);

}  // namespace loom::catalog
