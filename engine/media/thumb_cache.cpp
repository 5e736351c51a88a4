#include "media/thumb_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/hash.h"
#include "media/probe.h"

namespace loom::media {

namespace fs = std::filesystem;
using core::ErrorKind;
using core::makeError;

namespace {

// Bump when thumbnails made for the same request would look different, so old entries stop matching.
constexpr int kThumbnailerVersion = 1;

const ThumbnailKind kConcreteKinds[] = {ThumbnailKind::Image, ThumbnailKind::Frame, ThumbnailKind::Strip,
                                        ThumbnailKind::Waveform, ThumbnailKind::Page, ThumbnailKind::Text};

// Recency is the file's mtime. Stamps come from a fine clock and strictly increase within a process,
// so two uses in the same kernel tick (file times are coarse) still order as they happened.
timespec nextStamp() {
  static std::atomic<int64_t> last{0};
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  int64_t prev = last.load();
  int64_t want = 0;
  do {
    want = std::max(now, prev + 1);
  } while (!last.compare_exchange_weak(prev, want));
  return {static_cast<time_t>(want / 1'000'000'000), static_cast<long>(want % 1'000'000'000)};
}

void touch(const std::string& path) {
  timespec now = nextStamp();
  timespec t[2] = {now, now};
  utimensat(AT_FDCWD, path.c_str(), t, 0);
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

ThumbCache::ThumbCache(std::string dir, int64_t maxBytes) : m_dir(std::move(dir)), m_maxBytes(maxBytes) {}

std::string ThumbCache::defaultDir() {
  if (const char* d = std::getenv("LOOM_THUMBNAIL_CACHE"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "loom" / "thumbnails").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : "/tmp") / ".cache" / "loom" / "thumbnails").string();
}

int64_t ThumbCache::defaultMaxBytes() {
  if (const char* mb = std::getenv("LOOM_THUMBNAIL_CACHE_MB"); mb && *mb) {
    char* end = nullptr;
    long long v = std::strtoll(mb, &end, 10);
    if (end && *end == '\0' && v > 0) return static_cast<int64_t>(v) * 1024 * 1024;
  }
  return 1024LL * 1024 * 1024;
}

std::string ThumbCache::key(std::string_view uri, std::string_view etag, int64_t size, const ThumbnailRequest& r) {
  if (etag.empty()) return {};
  // The uri is part of the key because etags are only unique per object (file:// etags are size,
  // mtime and inode, not a content hash), so two objects could share one.
  core::Hasher h;
  h.field("loom.thumbnail").field(std::to_string(kThumbnailerVersion)).field(uri).field(etag);
  h.field(std::to_string(size)).field(thumbnailKindName(r.kind)).field(std::to_string(r.maxSide));
  h.field(r.kind == ThumbnailKind::Strip || r.kind == ThumbnailKind::Auto ? std::to_string(r.frames) : "");
  return h.hex();
}

std::string ThumbCache::pathFor(const std::string& key, std::string_view ext) const {
  return (fs::path(m_dir) / key.substr(0, 2) / (key + "." + std::string(ext))).string();
}

std::optional<Thumbnail> ThumbCache::get(const std::string& key) {
  if (key.size() < 8) return std::nullopt;
  // The made kind and the format are in the file name: <key>.<kind>.<jpg|png>.
  for (ThumbnailKind kind : kConcreteKinds) {
    for (std::string_view fmt : {"jpg", "png"}) {
      std::string path = pathFor(key, std::string(thumbnailKindName(kind)) + "." + std::string(fmt));
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) continue;
      std::string bytes = readAll(path);
      auto dims = imageSize(bytes);
      if (bytes.empty() || !dims.ok() || !dims->has_value()) continue;  // evicted meanwhile, or damaged
      touch(path);
      Thumbnail t;
      t.bytes = std::move(bytes);
      t.mime = fmt == "jpg" ? "image/jpeg" : "image/png";
      t.width = static_cast<int>((**dims).first);
      t.height = static_cast<int>((**dims).second);
      t.kind = kind;
      m_hits.fetch_add(1);
      return t;
    }
  }
  m_misses.fetch_add(1);
  return std::nullopt;
}

core::Result<void> ThumbCache::put(const std::string& key, const Thumbnail& t) {
  if (key.size() < 8) return makeError(ErrorKind::InvalidInput, "thumbnail cache: empty key");
  const std::string path = pathFor(key, std::string(thumbnailKindName(t.kind)) + "." +
                                            (t.mime == "image/png" ? "png" : "jpg"));
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return makeError(ErrorKind::Io, "cannot create the thumbnail cache folder " + m_dir + ": " + ec.message());
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(t.bytes.data(), static_cast<std::streamsize>(t.bytes.size()));
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      return makeError(ErrorKind::Io, "cannot write to the thumbnail cache " + m_dir + " (is the disk full?)");
    }
  }
  // No fsync: a cache entry lost in a crash is only recomputed; a torn one fails imageSize() in get().
  struct stat old {};
  const bool replaced = ::stat(path.c_str(), &old) == 0;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    fs::remove(tmp, ec);
    return makeError(ErrorKind::Io, "cannot write to the thumbnail cache " + m_dir + ": " + why);
  }
  touch(path);
  std::lock_guard lock(m_mutex);
  if (m_total < 0) {
    m_total = diskBytes();
  } else {
    m_total += static_cast<int64_t>(t.bytes.size()) - (replaced ? static_cast<int64_t>(old.st_size) : 0);
  }
  if (m_total > m_maxBytes) evictLocked();
  return {};
}

int64_t ThumbCache::diskBytes() const {
  int64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(m_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

void ThumbCache::evictLocked() {
  struct Entry {
    int64_t mtime;
    int64_t size;
    fs::path path;
  };
  std::vector<Entry> entries;
  int64_t total = 0;
  const int64_t staleTmp = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count() - 3600LL * 1'000'000'000;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(m_dir, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (it->path().string().find(".tmp-") != std::string::npos) {
      // A writer killed between write and rename leaves these; an hour-old one is abandoned.
      if (mtime < staleTmp) ::unlink(it->path().c_str());
      else total += st.st_size;
      continue;
    }
    total += st.st_size;
    entries.push_back({mtime, static_cast<int64_t>(st.st_size), it->path()});
  }
  // Down to 95% of the limit, so a full cache recounts its folder once per ~5% of new entries rather
  // than on every put.
  const int64_t lowWater = m_maxBytes - m_maxBytes / 20;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.mtime < b.mtime; });
  for (const auto& e : entries) {
    if (total <= lowWater) break;
    if (::unlink(e.path.c_str()) == 0 || errno == ENOENT) total -= e.size;
  }
  m_total = total;
}

core::Result<CachedThumbnail> cachedThumbnail(ThumbCache* cache, ObjectReader& reader, std::string_view etag,
                                              std::string_view mime, std::string_view name,
                                              const ThumbnailRequest& request, const MediaLimits& limits) {
  std::string key;
  if (cache && !etag.empty()) {
    auto size = reader.size();  // a stat at most: no bytes of the object are read for a hit
    if (size.ok()) key = ThumbCache::key(reader.uri(), etag, *size, request);
  }
  if (!key.empty()) {
    if (auto hit = cache->get(key)) return CachedThumbnail{std::move(*hit), true};
  }
  auto made = makeThumbnail(reader, mime, name, request, limits);
  if (!made.ok()) return made.error();
  if (!key.empty()) (void)cache->put(key, *made);  // a full or read-only cache only costs a recompute
  return CachedThumbnail{std::move(made).value(), false};
}

}  // namespace loom::media
