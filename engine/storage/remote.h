#pragma once
// Common ground of the network backends (s3/gs, az, http/https): reads go through a bounded local
// read cache keyed by uri + etag, in aligned blocks, with read-ahead only for sequential readers, so
// probing a 2 GB video costs kilobytes and a second preview or a re-run costs no download.
//
// A backend implements list/stat/write and `fetch` (one ranged GET that must match an etag), and
// reports every object it lists or stats through remember(), so reads of listed objects need no
// extra HEAD to learn their version.

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "storage/storage.h"

namespace loom::storage {

class ReadCache;

struct Fetched {
  std::string bytes;
  std::string etag;        // the version that answered ("" if the server gave none)
  int64_t totalSize = -1;  // from Content-Range, when known
  bool changed = false;    // the object no longer has the etag asked for (412): nothing was read
};

class RemoteStorage : public Storage {
 public:
  RemoteStorage();
  ~RemoteStorage() override;

  // Through the read cache. Reads of an object whose version is unknown stat it first (one HEAD);
  // an object that changes between listing and reading is re-stat'ed once and read anew.
  core::Result<std::string> read(const std::string& uri, int64_t offset, int64_t length) final;

  // Replaces the process-wide read cache (tests, benchmarks); nullptr turns caching off.
  void setReadCache(std::shared_ptr<ReadCache> cache);

  // Test and benchmark counters: ranged GETs sent and bytes they brought, since construction.
  int64_t fetchCount() const;
  int64_t fetchedBytes() const;

 protected:
  // One ranged GET of [offset, offset + length) (length > 0, never past the known size). `etag`
  // non-empty: the server must answer only if the object still has it (If-Match), else changed.
  virtual core::Result<Fetched> fetch(const std::string& uri, const std::string& etag, int64_t offset,
                                      int64_t length) = 0;
  // Records an object's current version and size, learnt from a listing or a stat.
  void remember(const ObjectInfo& info);
  void forget(const std::string& uri);
  // Mixed into read-cache keys: the endpoint, when one URI could name objects on several servers.
  void setCacheNamespace(std::string ns) { m_cacheNamespace = std::move(ns); }

 private:
  struct Known {
    std::string etag;
    int64_t size = -1;
  };
  core::Result<Known> versionOf(const std::string& uri);
  core::Result<std::string> readBlocks(const std::string& uri, const Known& known, int64_t offset, int64_t length,
                                       bool& changed);

  mutable std::mutex m_mutex;
  // uri -> version, most recently used at the front; bounded (a listing of millions of objects
  // keeps only the newest entries; older ones cost a HEAD when read).
  std::list<std::pair<std::string, Known>> m_lru;
  std::unordered_map<std::string, std::list<std::pair<std::string, Known>>::iterator> m_known;
  std::shared_ptr<ReadCache> m_cache;
  int64_t m_fetches = 0;
  int64_t m_fetchedBytes = 0;
  std::string m_cacheNamespace;
  uint64_t m_id;  // tells this storage's thread-local read span from another's
};

// Where the local read cache lives and how big it may grow: $LOOM_READ_CACHE_DIR (default
// $XDG_CACHE_HOME/loom/objects, else ~/.cache/loom/objects) and $LOOM_READ_CACHE_MB (default
// 2048; 0 turns the cache off). Shared by every backend in the process.
std::shared_ptr<ReadCache> processReadCache();
// A cache in `dir` holding at most `limitBytes` (0: nothing is kept).
std::shared_ptr<ReadCache> makeReadCache(std::string dir, int64_t limitBytes);

}  // namespace loom::storage
