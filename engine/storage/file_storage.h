#pragma once
// The file:// backend: local and mounted file systems through POSIX calls.
// Stateless; one instance (from storageFor) is shared and may be used from any number of threads.

#include "storage/storage.h"

namespace loom::storage {

// ObjectInfo::etag for a file is "<size>-<mtime ns>-<inode>" in hex: free to compute from the stat
// the listing needs anyway, and it changes on every rewrite (new size, new mtime, or a new inode
// from an atomic replace). It is a version tag, not a content hash: touching a file changes it.
class FileStorage final : public Storage {
 public:
  std::string scheme() const override { return "file"; }
  // Depth-first, sorted by name bytes within each folder; symlinks to files are listed with the
  // target's size and time, symlinks to folders are followed unless they lead back to a folder
  // being listed (then one "symlink loop" entry). Only regular files are listed; sockets, fifos
  // and devices are skipped. The prefix may also name a single file.
  core::Result<void> list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                          core::Feedback* feedback = nullptr) override;
  // A regular file (symlinks followed); a folder is an InvalidInput error, as it is not an object.
  core::Result<ObjectInfo> stat(const std::string& uri) override;
  core::Result<std::string> read(const std::string& uri, int64_t offset, int64_t length) override;
  // Temp file in the same folder + fsync + rename; parent folders are created; an existing file's
  // permission bits are kept. The URI names the file itself, so a symlink there is replaced.
  core::Result<void> write(const std::string& uri, std::string_view bytes) override;
};

}  // namespace loom::storage
