#include "catalog/blob_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "catalog/catalog.h"
#include "catalog/db.h"
#include "core/feedback.h"
#include "core/hash.h"

namespace loom::catalog {

namespace fs = std::filesystem;
using core::ErrorKind;
using core::makeError;

namespace {

// "cannot write PATH: REASON", with what to do when the disk is full or read-only.
core::Error writeFailure(const fs::path& path, int err) {
  std::string msg = "cannot write " + path.string() + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT)
    msg += " (the disk holding the catalog's blob store is full: free some space and run again; the work committed "
           "so far is kept and a run goes on where it stopped)";
  else if (err == EROFS || err == EACCES || err == EPERM)
    msg += " (the catalog's blob store is read-only: remount it read-write or fix its permissions)";
  return core::Error{ErrorKind::Io, msg};
}

// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so readers see
// the whole file or none of it. fsync'ed (here or by BlobStore::sync()) because catalog rows commit
// right after and reference it.
core::Result<void> writeAtomic(const fs::path& path, std::string_view bytes, bool durable) {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return writeFailure(path.parent_path(), ec.value());
  fs::path tmp = path.parent_path() /
                 (".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" +
                  path.filename().string());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return writeFailure(tmp, errno);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;  // a write of 0 bytes: no room
      ::close(fd);
      ::unlink(tmp.c_str());
      return writeFailure(path, err);
    }
    done += static_cast<size_t>(n);
  }
  bool ok = !durable || ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return writeFailure(path, err);
  }
  return {};
}

}  // namespace

bool isBlobHash(std::string_view hash) {
  if (hash.size() != 64) return false;
  for (char c : hash)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

BlobStore BlobStore::forCatalog(const Catalog& catalog) { return BlobStore((fs::path(catalog.dataDir()) / "blobs").string()); }

std::string BlobStore::pathOf(std::string_view hash) const {
  std::string h(hash);
  return (fs::path(m_dir) / h.substr(0, 2) / h).string();
}

bool BlobStore::contains(std::string_view hash) const {
  std::error_code ec;
  return isBlobHash(hash) && fs::is_regular_file(pathOf(hash), ec);
}

core::Result<std::string> BlobStore::put(std::string_view bytes, bool durable) const {
  std::string hash = core::sha256Hex(bytes);
  fs::path path = pathOf(hash);
  std::error_code ec;
  // Same hash, same size: the same bytes are already there (a torn file cannot exist: writes rename).
  if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) == bytes.size() && !ec) return hash;
  auto w = writeAtomic(path, bytes, durable);
  if (!w.ok()) return w.error();
  return hash;
}

core::Result<void> BlobStore::sync() const {
  int fd = ::open(m_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? core::Result<void>() : makeError(ErrorKind::Io, "cannot open " + m_dir + ": " + std::strerror(errno));
  bool ok = ::syncfs(fd) == 0;
  std::string why = ok ? "" : std::strerror(errno);
  ::close(fd);
  if (!ok) return makeError(ErrorKind::Io, "cannot flush the blob store " + m_dir + " to disk: " + why);
  return {};
}

core::Result<std::string> BlobStore::get(std::string_view hash) const {
  if (!isBlobHash(hash)) return makeError(ErrorKind::InvalidInput, "'" + std::string(hash) + "' is not a blob hash");
  std::ifstream in(pathOf(hash), std::ios::binary);
  if (!in) return makeError(ErrorKind::NotFound, "no blob " + std::string(hash) + " in " + m_dir);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void BlobStore::record(Db& db, std::string_view hash, int64_t size, std::string_view mime) {
  auto s = db.prepare("INSERT OR IGNORE INTO blobs(hash, size, mime, created_at) VALUES(?,?,?,?)");
  s.bind(1, hash).bind(2, size).bind(3, mime).bind(4, core::nowIsoUtc());
  s.run();
}

}  // namespace loom::catalog
