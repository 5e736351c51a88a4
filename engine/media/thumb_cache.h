#pragma once
// A content-addressed on-disk cache of thumbnails, shared by every catalog, flow and process of a
// user: one file per thumbnail, named by a hash of what determines it (the object's uri, etag and
// size; the requested kind, size and frames; the thumbnailer's version). Least recently used entries
// are evicted when the folder grows past its byte limit (a hit refreshes the entry's mtime, which is
// the recency). Files are written to a temporary name and renamed, so two processes sharing the folder
// never see a torn entry; each process keeps its own running total and recounts the folder when it
// passes the limit. Thread-safe: one ThumbCache may serve a whole worker pool.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "media/thumbnail.h"

namespace loom::media {

class ThumbCache {
 public:
  // `dir` is created on first write. `maxBytes` bounds the folder's total size.
  ThumbCache(std::string dir, int64_t maxBytes);

  // $LOOM_THUMBNAIL_CACHE, else $XDG_CACHE_HOME/loom/thumbnails, else ~/.cache/loom/thumbnails.
  static std::string defaultDir();
  // $LOOM_THUMBNAIL_CACHE_MB mebibytes, else 1 GiB.
  static int64_t defaultMaxBytes();

  // The cache key of a thumbnail. `etag` should change whenever the object's content may have
  // changed; without one the object's content cannot be trusted to be the same, and no key is made
  // (empty result: do not cache).
  static std::string key(std::string_view uri, std::string_view etag, int64_t size, const ThumbnailRequest& request);

  const std::string& dir() const { return m_dir; }
  int64_t maxBytes() const { return m_maxBytes; }
  // The cached thumbnail, marking it recently used; nullopt on a miss.
  std::optional<Thumbnail> get(const std::string& key);
  // Stores a thumbnail, then evicts least recently used entries while over the limit.
  core::Result<void> put(const std::string& key, const Thumbnail& thumbnail);
  // Bytes in the folder, counted now.
  int64_t diskBytes() const;
  int64_t hits() const { return m_hits.load(); }
  int64_t misses() const { return m_misses.load(); }

 private:
  std::string pathFor(const std::string& key, std::string_view ext) const;
  void evictLocked();

  std::string m_dir;
  int64_t m_maxBytes;
  std::mutex m_mutex;
  int64_t m_total = -1;  // running estimate of the folder's size; -1 until first counted
  std::atomic<int64_t> m_hits{0}, m_misses{0};
};

struct CachedThumbnail {
  Thumbnail thumbnail;
  bool cached = false;  // served from the cache: the object was not read
};

// The thumbnail of the object behind `reader`: from `cache` when it has one for (uri, etag, size,
// request), else made with makeThumbnail() and stored. `cache` may be null. Failures are not cached
// (a file that was still being written may be fine next time).
core::Result<CachedThumbnail> cachedThumbnail(ThumbCache* cache, ObjectReader& reader, std::string_view etag,
                                              std::string_view mime, std::string_view name,
                                              const ThumbnailRequest& request, const MediaLimits& limits);

}  // namespace loom::media
