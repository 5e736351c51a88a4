#pragma once
// One interface for every place assets live. Backends are chosen by URI scheme (file:// now;
// s3://, az://, https:// later). A Storage object is stateless apart from its connection state and
// may be used from several threads at once.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/feedback.h"
#include "core/result.h"

namespace loom::storage {

struct ObjectInfo {
  std::string uri;       // canonical URI; bytes outside the URI's unreserved set are %-encoded
  std::string name;      // last path segment, decoded; invalid UTF-8 replaced by U+FFFD
  std::string etag;      // version tag: changes whenever the content may have changed
  int64_t size = -1;     // bytes; -1 when unknown
  int64_t mtimeNs = 0;   // modification time, nanoseconds since the Unix epoch
  std::string error;     // non-empty: this entry could not be listed/read; the message says why
};

struct ListOptions {
  // Glob over the path relative to the listed prefix. A pattern without '/' matches the file name at
  // any depth ("*.jpg"); with '/', the whole relative path ("**/*.jpg", "raw/*/img_*.png").
  // Supports *, ?, [abc], [!abc], {a,b} and ** (any number of directories). Empty: everything.
  std::string glob;
  bool recursive = true;
};

// Receives listed objects in a stable order (sorted by name within each directory).
// Returns false to stop listing early.
using ListSink = std::function<bool(ObjectInfo&&)>;

class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::string scheme() const = 0;
  // Lists objects under a prefix URI (a directory for file://). Problems with single entries
  // (permission denied, vanished files, symlink loops) arrive as ObjectInfo with `error` set; the
  // Result fails only when the prefix itself cannot be listed. Honours feedback->isCancelled().
  virtual core::Result<void> list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                                  core::Feedback* feedback = nullptr) = 0;
  virtual core::Result<ObjectInfo> stat(const std::string& uri) = 0;
  // Reads up to `length` bytes from `offset` (fewer at end of object). length < 0: to the end.
  virtual core::Result<std::string> read(const std::string& uri, int64_t offset, int64_t length) = 0;
  // Writes a whole object atomically (readers see the old or the new content, never a mix).
  virtual core::Result<void> write(const std::string& uri, std::string_view bytes) = 0;
};

// The backend for a URI's scheme, or an error naming the scheme and the supported ones.
core::Result<std::shared_ptr<Storage>> storageFor(std::string_view uri);

// Normalises what a person types into a URI: "/data/x" or "./x" -> "file:///abs/path/x".
core::Result<std::string> normalizeUri(std::string_view userInput);

}  // namespace loom::storage
