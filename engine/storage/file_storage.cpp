#include "storage/file_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <new>
#include <random>
#include <system_error>
#include <utility>
#include <vector>

#include "storage/glob.h"
#include "storage/uri.h"

// Listing uses openat/readdir/fstatat directly rather than std::filesystem: recursive_directory_
// iterator stats every entry again, throws on the first bad entry and has no loop detection, and
// the listing has to keep pace with `find` on trees of 100,000+ files.

namespace loom::storage {

using core::Error;
using core::ErrorKind;
using core::Result;

namespace {

class FdGuard {
 public:
  explicit FdGuard(int fd) : m_fd(fd) {}
  ~FdGuard() {
    if (m_fd >= 0) ::close(m_fd);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return m_fd; }
  int release() { return std::exchange(m_fd, -1); }

 private:
  int m_fd;
};

class DirGuard {
 public:
  explicit DirGuard(DIR* dir) : m_dir(dir) {}
  ~DirGuard() {
    if (m_dir) ::closedir(m_dir);
  }
  DirGuard(const DirGuard&) = delete;
  DirGuard& operator=(const DirGuard&) = delete;
  DIR* get() const { return m_dir; }

 private:
  DIR* m_dir;
};

// Messages must be valid UTF-8 even when the path is not.
std::string shown(std::string_view path) { return sanitizeUtf8(path.empty() ? std::string_view("/") : path); }

std::string_view baseNameOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

ErrorKind kindForErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return ErrorKind::NotFound;
    case EACCES:
    case EPERM: return ErrorKind::PermissionDenied;
    default: return ErrorKind::Io;
  }
}

// Why an OS call failed, with what the person can do about it.
std::string describeErrno(int err) {
  switch (err) {
    case ENOENT: return "it does not exist (check the path for typos, or whether the drive is mounted)";
    case ENOTDIR: return "a part of the path is a file, not a folder (check the path)";
    case EACCES:
    case EPERM: return "permission denied (check the permissions of the file and its folders)";
    case ELOOP: return "too many levels of symbolic links (a symlink on the path points back to itself)";
    case ENAMETOOLONG: return "the path or one of its names is too long";
    case ENOSPC: return "the disk is full (free some space and try again)";
    case EDQUOT: return "the disk quota is used up (free some space or ask for a larger quota)";
    case EROFS: return "the file system is read-only (choose a writable location)";
    case EISDIR: return "it is a folder, not a file";
    case EMFILE:
    case ENFILE: return "too many open files (raise the limit with `ulimit -n`)";
    case EIO: return "input/output error (the disk or network share may be failing)";
    default: return std::generic_category().message(err);
  }
}

Error errnoError(int err, std::string_view action, std::string_view path) {
  return Error{kindForErrno(err), std::string(action) + " " + shown(path) + ": " + describeErrno(err)};
}

// For one entry inside a listing; the text starts with the kind of problem so a table of errors
// reads well.
std::string entryErrorMessage(int err, std::string_view path) {
  switch (err) {
    case EACCES:
    case EPERM: return "permission denied: cannot list " + shown(path) + " (check the folder's permissions)";
    case ENOENT:
      return "vanished while listing: " + shown(path) +
             " no longer exists (it was moved or deleted during the listing; list again to pick up the change)";
    default: return "cannot list " + shown(path) + ": " + describeErrno(err);
  }
}

int64_t mtimeNsOf(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + static_cast<int64_t>(st.st_mtim.tv_nsec);
}

void appendHex(std::string& out, uint64_t value) {
  char buf[16];
  const auto res = std::to_chars(buf, buf + sizeof buf, value, 16);
  out.append(buf, res.ptr);
}

// See FileStorage in the header for why this is the etag.
std::string etagOf(const struct stat& st) {
  std::string etag;
  etag.reserve(40);
  appendHex(etag, static_cast<uint64_t>(st.st_size));
  etag.push_back('-');
  appendHex(etag, static_cast<uint64_t>(mtimeNsOf(st)));
  etag.push_back('-');
  appendHex(etag, static_cast<uint64_t>(st.st_ino));
  return etag;
}

void fillFileInfo(ObjectInfo& info, std::string_view baseName, const struct stat& st) {
  info.name = sanitizeUtf8(baseName);
  info.size = static_cast<int64_t>(st.st_size);
  info.mtimeNs = mtimeNsOf(st);
  info.etag = etagOf(st);
}

unsigned char direntTypeOf(mode_t mode) {
  if (S_ISREG(mode)) return DT_REG;
  if (S_ISDIR(mode)) return DT_DIR;
  if (S_ISLNK(mode)) return DT_LNK;
  return DT_UNKNOWN;  // sockets, fifos, devices: visit() skips them
}

Result<std::string> localPath(const std::string& uri) {
  auto path = pathFromFileUri(uri);
  if (!path) {
    return Error{ErrorKind::InvalidInput,
                 "not a valid file URI: '" + sanitizeUtf8(uri) +
                     "' (expected file:///absolute/path, with '%' followed by two hex digits; typed paths are "
                     "turned into URIs by normalizeUri)"};
  }
  while (path->size() > 1 && path->back() == '/') path->pop_back();  // a trailing slash changes nothing
  return std::move(*path);
}

Error internalError(std::string_view action, const std::string& uri, const std::exception& e) {
  return Error{ErrorKind::Internal, std::string(action) + " " + sanitizeUtf8(uri) + " failed unexpectedly: " +
                                        e.what() + " (this is a bug in Loom; please report it)"};
}

// One listing: the path and URI buffers grow and shrink with the depth-first walk, so each
// entry costs one append instead of re-encoding its whole path.
class Walker {
 public:
  Walker(const ListOptions& options, const ListSink& sink, core::Feedback* feedback)
      : m_options(options), m_sink(sink), m_feedback(feedback), m_glob(options.glob) {}

  Result<void> run(const std::string& rootPath);

 private:
  enum class Flow { Continue, Stop, Cancelled };
  struct Ancestor {
    dev_t dev;
    ino_t ino;
    size_t pathLength;
  };
  struct Entry {
    uint32_t offset;  // into the name arena
    uint32_t length;
    unsigned char type;
  };

  Flow descend(int parentFd, const char* name, bool viaSymlink);
  Flow walkDirectory(DIR* dir);
  Flow visit(int parentFd, const char* name, unsigned char type);
  Flow visitSymlink(int parentFd, const char* name);
  Flow emitFile(const struct stat& st);
  Flow emitError(std::string message);

  std::string_view relativePath() const { return std::string_view(m_path).substr(m_relStart); }
  bool globMatches() const { return m_glob.matches(relativePath()); }
  bool cancelled() const { return m_feedback && m_feedback->isCancelled(); }

  const ListOptions& m_options;
  const ListSink& m_sink;
  core::Feedback* m_feedback;
  Glob m_glob;
  std::string m_path;  // raw bytes of the current entry's absolute path ("" stands for "/")
  std::string m_uri;   // m_path as a file URI
  size_t m_relStart = 0;
  std::vector<Ancestor> m_ancestors;  // folders on the current path, to refuse symlink loops
  uint64_t m_visited = 0;
};

Result<void> Walker::run(const std::string& rootPath) {
  if (cancelled()) return Error{ErrorKind::Cancelled, "listing " + shown(rootPath) + " was cancelled"};
  struct stat st;
  if (::stat(rootPath.c_str(), &st) != 0) return errnoError(errno, "cannot list", rootPath);

  m_path = rootPath == "/" ? std::string() : rootPath;
  m_uri = fileUriFromPath(m_path);
  if (S_ISREG(st.st_mode)) {
    m_relStart = m_path.rfind('/') + 1;  // a single file is matched by its own name
    if (globMatches()) emitFile(st);
    return {};
  }
  if (!S_ISDIR(st.st_mode)) {
    return Error{ErrorKind::Unsupported,
                 "cannot list " + shown(rootPath) + ": it is neither a folder nor a regular file"};
  }
  m_relStart = m_path.size() + 1;
  const int fd = ::open(rootPath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errnoError(errno, "cannot list", rootPath);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    const int err = errno;
    ::close(fd);
    return errnoError(err, "cannot list", rootPath);
  }
  DirGuard guard(dir);
  m_ancestors.push_back({st.st_dev, st.st_ino, m_path.size()});
  if (walkDirectory(dir) == Flow::Cancelled) {
    return Error{ErrorKind::Cancelled, "listing " + shown(rootPath) + " was cancelled"};
  }
  return {};
}

Walker::Flow Walker::descend(int parentFd, const char* name, bool viaSymlink) {
  // O_NOFOLLOW keeps a folder that was swapped for a symlink since readdir from being followed
  // unchecked.
  const int fd = ::openat(parentFd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (viaSymlink ? 0 : O_NOFOLLOW));
  if (fd < 0) return emitError(entryErrorMessage(errno, m_path));
  FdGuard fdGuard(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return emitError(entryErrorMessage(errno, m_path));
  for (const Ancestor& ancestor : m_ancestors) {
    if (ancestor.dev == st.st_dev && ancestor.ino == st.st_ino) {
      return emitError("symlink loop: " + shown(m_path) + " leads back to " +
                       shown(std::string_view(m_path).substr(0, ancestor.pathLength)) +
                       ", which is already being listed (not followed again)");
    }
  }
  DIR* dir = ::fdopendir(fd);
  if (!dir) return emitError(entryErrorMessage(errno, m_path));
  fdGuard.release();
  DirGuard dirGuard(dir);
  if (cancelled()) return Flow::Cancelled;
  m_ancestors.push_back({st.st_dev, st.st_ino, m_path.size()});
  const Flow flow = walkDirectory(dir);
  m_ancestors.pop_back();
  return flow;
}

Walker::Flow Walker::walkDirectory(DIR* dir) {
  // All names go into one arena: one allocation per folder instead of one per entry.
  std::string names;
  std::vector<Entry> entries;
  int readError = 0;
  for (;;) {
    errno = 0;
    const dirent* ent = ::readdir(dir);
    if (!ent) {
      readError = errno;
      break;
    }
    const char* n = ent->d_name;
    if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
    const size_t len = std::strlen(n);
    entries.push_back({static_cast<uint32_t>(names.size()), static_cast<uint32_t>(len), ent->d_type});
    names.append(n, len + 1);  // keep the NUL so names go straight to the *at() calls
  }
  if (readError != 0) {
    // Keep what was read; the folder's own entry says the rest is missing.
    const Flow flow = emitError("cannot list all of " + shown(m_path) + ": " + describeErrno(readError));
    if (flow != Flow::Continue) return flow;
  }

  const char* arena = names.data();
  std::sort(entries.begin(), entries.end(), [arena](const Entry& a, const Entry& b) {
    // string_view compares with char_traits<char>, which orders bytes as unsigned: stable across locales.
    return std::string_view(arena + a.offset, a.length) < std::string_view(arena + b.offset, b.length);
  });

  const int fd = ::dirfd(dir);
  const size_t pathLength = m_path.size();
  const size_t uriLength = m_uri.size();
  Flow flow = Flow::Continue;
  for (const Entry& entry : entries) {
    if ((++m_visited & 0xFF) == 0 && cancelled()) {
      flow = Flow::Cancelled;
      break;
    }
    const std::string_view name(arena + entry.offset, entry.length);
    m_path.resize(pathLength);
    m_path.push_back('/');
    m_path.append(name);
    m_uri.resize(uriLength);
    m_uri.push_back('/');
    m_uri.append(percentEncodePath(name));
    flow = visit(fd, arena + entry.offset, entry.type);
    if (flow != Flow::Continue) break;
  }
  m_path.resize(pathLength);
  m_uri.resize(uriLength);
  return flow;
}

Walker::Flow Walker::visit(int parentFd, const char* name, unsigned char type) {
  struct stat st;
  if (type == DT_REG) {
    // Files the glob rejects are never stat'ed: the cheapest listing is the one that skips work.
    if (!globMatches()) return Flow::Continue;
    if (::fstatat(parentFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return emitError(entryErrorMessage(errno, m_path));
    if (S_ISREG(st.st_mode)) return emitFile(st);
    type = direntTypeOf(st.st_mode);  // replaced since readdir: go on with what is there now
  } else if (type == DT_UNKNOWN) {
    // Some file systems (older XFS, some FUSE and network mounts) do not fill d_type.
    if (::fstatat(parentFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      return globMatches() ? emitError(entryErrorMessage(err, m_path)) : Flow::Continue;
    }
    if (S_ISREG(st.st_mode)) return globMatches() ? emitFile(st) : Flow::Continue;
    type = direntTypeOf(st.st_mode);
  }
  if (type == DT_DIR) return m_options.recursive ? descend(parentFd, name, false) : Flow::Continue;
  if (type == DT_LNK) return visitSymlink(parentFd, name);
  return Flow::Continue;  // sockets, fifos and devices hold no data objects
}

Walker::Flow Walker::visitSymlink(int parentFd, const char* name) {
  struct stat st;
  if (::fstatat(parentFd, name, &st, 0) != 0) {
    const int err = errno;
    // A dangling link could have pointed at a file or a folder; report it when its name fits.
    if (!globMatches()) return Flow::Continue;
    if (err == ENOENT) {
      char target[4096];
      const ssize_t n = ::readlinkat(parentFd, name, target, sizeof target);
      const std::string shownTarget = n >= 0 ? sanitizeUtf8(std::string_view(target, static_cast<size_t>(n))) : "?";
      return emitError("broken symlink: " + shown(m_path) + " points to '" + shownTarget +
                       "', which does not exist (fix or remove the link)");
    }
    if (err == ELOOP) {
      return emitError("symlink loop: " + shown(m_path) +
                       " points back to itself through other links (fix or remove the link)");
    }
    return emitError(entryErrorMessage(err, m_path));
  }
  if (S_ISREG(st.st_mode)) return globMatches() ? emitFile(st) : Flow::Continue;
  if (S_ISDIR(st.st_mode)) return m_options.recursive ? descend(parentFd, name, true) : Flow::Continue;
  return Flow::Continue;
}

Walker::Flow Walker::emitFile(const struct stat& st) {
  ObjectInfo info;
  info.uri = m_uri;
  fillFileInfo(info, baseNameOf(m_path), st);
  return m_sink(std::move(info)) ? Flow::Continue : Flow::Stop;
}

Walker::Flow Walker::emitError(std::string message) {
  ObjectInfo info;
  info.uri = m_uri;
  info.name = sanitizeUtf8(baseNameOf(m_path));
  info.error = std::move(message);
  return m_sink(std::move(info)) ? Flow::Continue : Flow::Stop;
}

Result<void> makeDirectories(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
  for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    const std::string part = pos == std::string::npos ? dir : dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST) return errnoError(errno, "cannot create the folder", part);
    if (pos == std::string::npos) break;
  }
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error{ErrorKind::Io, "cannot create the folder " + shown(dir) +
                                    ": a file of that name is in the way (rename or remove it)"};
  }
  return {};
}

uint64_t tempSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (static_cast<uint64_t>(::getpid()) << 32)};
  return rng() ^ counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

Result<void> FileStorage::list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                               core::Feedback* feedback) {
  try {
    auto path = localPath(prefixUri);
    if (!path.ok()) return path.error();
    Walker walker(options, sink, feedback);
    return walker.run(*path);
  } catch (const std::exception& e) {
    return internalError("listing", prefixUri, e);
  }
}

Result<ObjectInfo> FileStorage::stat(const std::string& uri) {
  try {
    auto path = localPath(uri);
    if (!path.ok()) return path.error();
    struct stat st;
    if (::stat(path->c_str(), &st) != 0) return errnoError(errno, "cannot look up", *path);
    if (S_ISDIR(st.st_mode)) {
      return Error{ErrorKind::InvalidInput,
                   shown(*path) + " is a folder, not a file (list it to see the files inside)"};
    }
    if (!S_ISREG(st.st_mode)) {
      return Error{ErrorKind::Unsupported,
                   shown(*path) + " is not a regular file (sockets, pipes and devices hold no data objects)"};
    }
    ObjectInfo info;
    info.uri = fileUriFromPath(*path);
    fillFileInfo(info, baseNameOf(*path), st);
    return info;
  } catch (const std::exception& e) {
    return internalError("looking up", uri, e);
  }
}

Result<std::string> FileStorage::read(const std::string& uri, int64_t offset, int64_t length) {
  try {
    auto path = localPath(uri);
    if (!path.ok()) return path.error();
    if (offset < 0) {
      return Error{ErrorKind::InvalidInput, "cannot read " + shown(*path) + ": the offset must not be negative (got " +
                                                std::to_string(offset) + ")"};
    }
    const int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errnoError(errno, "cannot read", *path);
    FdGuard guard(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return errnoError(errno, "cannot read", *path);
    if (S_ISDIR(st.st_mode)) return errnoError(EISDIR, "cannot read", *path);

    // The size is only a hint: the file may grow or shrink while it is read, and some files
    // (/proc, pipes) report 0. Read until `length` bytes or end of file.
    const int64_t limit = length < 0 ? std::numeric_limits<int64_t>::max() : length;
    int64_t expected = st.st_size > offset ? st.st_size - offset : 0;
    std::string out;
    int64_t pos = offset;
    while (static_cast<int64_t>(out.size()) < limit) {
      const int64_t have = static_cast<int64_t>(out.size());
      const int64_t want = std::min(limit - have, std::max<int64_t>(expected - have, 64 * 1024));
      out.resize(static_cast<size_t>(have + want));
      const ssize_t n = ::pread(fd, out.data() + have, static_cast<size_t>(want), pos);
      if (n < 0) {
        if (errno == EINTR) {
          out.resize(static_cast<size_t>(have));
          continue;
        }
        return errnoError(errno, "cannot read", *path);
      }
      out.resize(static_cast<size_t>(have + n));
      if (n == 0) break;
      pos += n;
    }
    return out;
  } catch (const std::bad_alloc&) {
    return Error{ErrorKind::Io, "cannot read " + sanitizeUtf8(uri) +
                                    ": not enough memory for the requested range (read it in smaller pieces)"};
  } catch (const std::exception& e) {
    return internalError("reading", uri, e);
  }
}

Result<void> FileStorage::write(const std::string& uri, std::string_view bytes) {
  try {
    auto decoded = pathFromFileUri(uri);
    if (decoded && !decoded->empty() && decoded->back() == '/') {
      return Error{ErrorKind::InvalidInput,
                   "cannot write " + shown(*decoded) + ": the URI names a folder (add a file name)"};
    }
    auto pathResult = localPath(uri);
    if (!pathResult.ok()) return pathResult.error();
    const std::string& path = *pathResult;
    const size_t slash = path.rfind('/');
    const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    const std::string_view base = std::string_view(path).substr(slash + 1);
    if (auto made = makeDirectories(parent); !made.ok()) return made.error();

    struct stat old;
    const bool hadOld = ::stat(path.c_str(), &old) == 0;
    if (hadOld && S_ISDIR(old.st_mode)) return errnoError(EISDIR, "cannot write", path);

    // A hidden name in the same folder, so the rename stays on one file system and is atomic; the
    // base name is shortened so the temp name stays under NAME_MAX.
    std::string temp;
    int fd = -1;
    for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
      temp = (parent == "/" ? std::string() : parent) + "/." + std::string(base.substr(0, 200)) + ".loom-tmp-";
      appendHex(temp, tempSuffix());
      fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);  // 0666 & ~umask, like any new file
      if (fd < 0 && errno != EEXIST) return errnoError(errno, "cannot write", path);
    }
    if (fd < 0) return errnoError(EEXIST, "cannot create a temporary file next to", path);
    FdGuard guard(fd);
    struct TempRemover {
      const std::string* name;
      ~TempRemover() {
        if (name) ::unlink(name->c_str());
      }
    } remover{&temp};

    // Best effort: keep an existing file's permission bits; failing that is not worth failing the write.
    if (hadOld && S_ISREG(old.st_mode)) (void)::fchmod(fd, old.st_mode & 07777);

    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoError(errno, "cannot write", path);
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) return errnoError(errno, "cannot write", path);
    if (::close(guard.release()) != 0) return errnoError(errno, "cannot write", path);
    if (::rename(temp.c_str(), path.c_str()) != 0) return errnoError(errno, "cannot write", path);
    remover.name = nullptr;

    // Make the rename itself durable; a failure here leaves correct content, so it is not an error.
    const int dirFd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
      (void)::fsync(dirFd);
      ::close(dirFd);
    }
    return {};
  } catch (const std::bad_alloc&) {
    return Error{ErrorKind::Io, "cannot write " + sanitizeUtf8(uri) + ": not enough memory"};
  } catch (const std::exception& e) {
    return internalError("writing", uri, e);
  }
}

}  // namespace loom::storage
