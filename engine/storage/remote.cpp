#include "storage/remote.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "core/hash.h"

namespace loom::storage {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorKind;
using core::Result;

namespace {

constexpr int64_t kBlock = 64 * 1024;                 // cache granularity
constexpr int64_t kMaxReadAhead = 4 * 1024 * 1024;    // sequential readers: up to this much ahead
constexpr size_t kMaxKnown = 200'000;                 // versions remembered from listings

std::string defaultCacheDir() {
  if (const char* d = std::getenv("LOOM_READ_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "loom" / "objects").string();
  if (const char* h = std::getenv("HOME"); h && *h) return (fs::path(h) / ".cache" / "loom" / "objects").string();
  return {};
}

int64_t defaultCacheLimit() {
  if (const char* m = std::getenv("LOOM_READ_CACHE_MB"); m && *m) {
    char* end = nullptr;
    const long long mb = std::strtoll(m, &end, 10);
    if (end != m && mb >= 0) return mb * 1024 * 1024;
  }
  return int64_t{2048} * 1024 * 1024;
}

// The bytes a thread fetched last: sequential small reads (FFmpeg's 32 KiB AVIO reads) are served
// from here without touching the disk cache or the network.
struct LastSpan {
  uint64_t owner = 0;  // RemoteStorage::m_id (never reused, unlike an address)
  std::string uri;
  std::string etag;
  int64_t offset = 0;
  std::string bytes;
  int64_t lastEnd = -1;     // where this thread's previous read of `uri` ended
  int64_t readAhead = 0;    // grows while the reader stays sequential
};
thread_local LastSpan tLast;

}  // namespace

// A directory of 64 KiB blocks named by sha256(uri + "\n" + etag) and block index. An object's
// blocks are immutable for a given etag, so a block is either absent or right. Least recently used
// blocks (by file mtime, refreshed on hits) go first when the total passes the limit.
class ReadCache {
 public:
  ReadCache(std::string dir, int64_t limit) : m_dir(std::move(dir)), m_limit(limit) {}

  bool enabled() const { return m_limit > 0 && !m_dir.empty(); }

  bool get(const std::string& key, int64_t block, std::string& out) {
    const std::string path = pathFor(key, block);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st{};
    bool ok = ::fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= kBlock;
    if (ok) {
      out.resize(static_cast<size_t>(st.st_size));
      ok = ::pread(fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size());
      // Refresh the LRU age at most once a minute per block.
      if (ok && ::time(nullptr) - st.st_mtime > 60) ::futimens(fd, nullptr);
    }
    ::close(fd);
    return ok;
  }

  void put(const std::string& key, int64_t block, std::string_view bytes) {
    if (!enabled() || bytes.empty()) return;
    const std::string path = pathFor(key, block);
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    thread_local std::mt19937_64 rng(std::random_device{}());
    const std::string tmp = path + ".tmp" + std::to_string(rng());
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      if (!f) return;  // a cache that cannot be written is only slower
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!f) {
        fs::remove(tmp, ec);
        return;
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      fs::remove(tmp, ec);
      return;
    }
    if (addBytes(static_cast<int64_t>(bytes.size())) > m_limit) evict();
  }

 private:
  std::string pathFor(const std::string& key, int64_t block) const {
    return m_dir + "/" + key.substr(0, 2) + "/" + key + "-" + std::to_string(block);
  }

  // The running total, counted from the disk on first use (other processes share the directory, so
  // it is an estimate between evictions; eviction recounts).
  int64_t addBytes(int64_t n) {
    std::lock_guard lock(m_mutex);
    if (m_total < 0) m_total = scan(nullptr);
    m_total += n;
    return m_total;
  }

  int64_t scan(std::vector<std::pair<int64_t, std::pair<std::string, int64_t>>>* files) const {
    int64_t total = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(m_dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      struct stat st{};
      if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      total += st.st_size;
      if (files) {
        const int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
        files->push_back({mtime, {it->path().string(), st.st_size}});
      }
    }
    return total;
  }

  void evict() {
    std::lock_guard lock(m_mutex);
    std::vector<std::pair<int64_t, std::pair<std::string, int64_t>>> files;
    int64_t total = scan(&files);
    std::sort(files.begin(), files.end());
    const int64_t target = m_limit - m_limit / 10;  // leave room so eviction is not run per block
    std::error_code ec;
    for (const auto& [mtime, file] : files) {
      if (total <= target) break;
      if (fs::remove(file.first, ec)) total -= file.second;
    }
    m_total = total;
  }

  std::string m_dir;
  int64_t m_limit;
  std::mutex m_mutex;
  int64_t m_total = -1;
};

std::shared_ptr<ReadCache> processReadCache() {
  static const std::shared_ptr<ReadCache> cache = std::make_shared<ReadCache>(defaultCacheDir(), defaultCacheLimit());
  return cache;
}

namespace {
std::atomic<uint64_t> nextStorageId{1};
}

std::shared_ptr<ReadCache> makeReadCache(std::string dir, int64_t limitBytes) {
  return std::make_shared<ReadCache>(std::move(dir), limitBytes);
}

void RemoteStorage::setReadCache(std::shared_ptr<ReadCache> cache) {
  m_cache = cache ? std::move(cache) : makeReadCache({}, 0);
}

RemoteStorage::RemoteStorage() : m_cache(processReadCache()), m_id(nextStorageId++) {}
// Nothing thread-local is touched here: at exit, thread-locals are gone before static storages.
RemoteStorage::~RemoteStorage() = default;

int64_t RemoteStorage::fetchCount() const {
  std::lock_guard lock(m_mutex);
  return m_fetches;
}

int64_t RemoteStorage::fetchedBytes() const {
  std::lock_guard lock(m_mutex);
  return m_fetchedBytes;
}

void RemoteStorage::remember(const ObjectInfo& info) {
  if (!info.error.empty() || info.uri.empty()) return;
  std::lock_guard lock(m_mutex);
  if (auto it = m_known.find(info.uri); it != m_known.end()) {
    it->second->second = Known{info.etag, info.size};
    m_lru.splice(m_lru.begin(), m_lru, it->second);
    return;
  }
  m_lru.emplace_front(info.uri, Known{info.etag, info.size});
  m_known.emplace(info.uri, m_lru.begin());
  if (m_known.size() > kMaxKnown) {
    m_known.erase(m_lru.back().first);
    m_lru.pop_back();
  }
}

void RemoteStorage::forget(const std::string& uri) {
  std::lock_guard lock(m_mutex);
  if (auto it = m_known.find(uri); it != m_known.end()) {
    m_lru.erase(it->second);
    m_known.erase(it);
  }
}

Result<RemoteStorage::Known> RemoteStorage::versionOf(const std::string& uri) {
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_known.find(uri); it != m_known.end() && it->second->second.size >= 0) return it->second->second;
  }
  auto info = stat(uri);
  if (!info.ok()) return info.error();
  if (info->size < 0) {
    return Error{ErrorKind::Unsupported,
                 uri + ": the server does not tell the object's size, which ranged reads need"};
  }
  remember(info.value());
  return Known{info->etag, info->size};
}

Result<std::string> RemoteStorage::read(const std::string& uri, int64_t offset, int64_t length) {
  if (offset < 0) return Error{ErrorKind::InvalidInput, uri + ": negative read offset"};
  for (int round = 0; round < 2; ++round) {
    auto known = versionOf(uri);
    if (!known.ok()) return known.error();
    bool changed = false;
    auto bytes = readBlocks(uri, known.value(), offset, length, changed);
    if (!changed) return bytes;
    // The object was rewritten since we learnt its version: learn the new one and read again.
    forget(uri);
    if (tLast.owner == m_id && tLast.uri == uri) tLast = LastSpan{};
  }
  return Error{ErrorKind::Io, uri + ": the object keeps changing while it is read; try again later"};
}

Result<std::string> RemoteStorage::readBlocks(const std::string& uri, const Known& known, int64_t offset,
                                              int64_t length, bool& changed) {
  const int64_t size = known.size;
  if (offset >= size) return std::string();
  const int64_t end = (length < 0) ? size : std::min(size, offset + length);
  if (end <= offset) return std::string();

  // Sequential readers get a growing read-ahead; random access fetches only what it asks for.
  LastSpan& last = tLast;
  const bool sameObject = last.owner == m_id && last.uri == uri && last.etag == known.etag;
  const bool sequential = sameObject && last.lastEnd == offset;
  const int64_t readAhead = sequential ? std::min(kMaxReadAhead, std::max<int64_t>(kBlock * 4, last.readAhead * 2)) : 0;
  if (!sameObject) last = LastSpan{m_id, uri, known.etag, 0, {}, -1, 0};
  last.readAhead = readAhead;
  last.lastEnd = end;

  // Served from the span this thread fetched last?
  if (sameObject && offset >= last.offset && end <= last.offset + static_cast<int64_t>(last.bytes.size())) {
    return last.bytes.substr(static_cast<size_t>(offset - last.offset), static_cast<size_t>(end - offset));
  }

  const bool useCache = m_cache->enabled() && !known.etag.empty();
  const std::string key = useCache ? core::sha256Hex(m_cacheNamespace + "\n" + uri + "\n" + known.etag) : std::string();
  const int64_t firstBlock = offset / kBlock;
  const int64_t lastBlock = (end - 1) / kBlock;
  std::vector<std::string> blocks(static_cast<size_t>(lastBlock - firstBlock + 1));
  std::vector<bool> have(blocks.size(), false);
  if (useCache) {
    for (int64_t b = firstBlock; b <= lastBlock; ++b) {
      have[static_cast<size_t>(b - firstBlock)] = m_cache->get(key, b, blocks[static_cast<size_t>(b - firstBlock)]);
    }
  }

  // Fetch each run of missing blocks with one ranged GET (the last run extended by the read-ahead).
  std::string spanBytes;
  int64_t spanStart = -1;
  for (size_t i = 0; i < blocks.size();) {
    if (have[i]) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < blocks.size() && !have[j]) ++j;
    const int64_t from = (firstBlock + static_cast<int64_t>(i)) * kBlock;
    int64_t to = std::min(size, (firstBlock + static_cast<int64_t>(j)) * kBlock);
    if (j == blocks.size() && readAhead > 0) to = std::min(size, ((end + readAhead + kBlock - 1) / kBlock) * kBlock);
    auto got = fetch(uri, known.etag, from, to - from);
    if (!got.ok()) return got.error();
    if (got->changed) {
      changed = true;
      return std::string();
    }
    if (static_cast<int64_t>(got->bytes.size()) != to - from) {
      return Error{ErrorKind::Io, uri + ": asked for bytes " + std::to_string(from) + "-" + std::to_string(to - 1) +
                                      " and got " + std::to_string(got->bytes.size()) +
                                      " bytes; the object may have changed or the server does not honour ranges"};
    }
    {
      std::lock_guard lock(m_mutex);
      ++m_fetches;
      m_fetchedBytes += to - from;
    }
    for (int64_t pos = from; pos < to; pos += kBlock) {
      const int64_t b = pos / kBlock;
      std::string_view piece = std::string_view(got->bytes).substr(static_cast<size_t>(pos - from),
                                                                   static_cast<size_t>(std::min(kBlock, to - pos)));
      if (useCache) m_cache->put(key, b, piece);
      if (b <= lastBlock) {
        blocks[static_cast<size_t>(b - firstBlock)] = std::string(piece);
        have[static_cast<size_t>(b - firstBlock)] = true;
      }
    }
    if (j == blocks.size()) {
      spanStart = from;
      spanBytes = std::move(got->bytes);
    }
    i = j;
  }

  std::string out;
  out.reserve(static_cast<size_t>(end - offset));
  for (size_t i = 0; i < blocks.size(); ++i) {
    const int64_t blockStart = (firstBlock + static_cast<int64_t>(i)) * kBlock;
    const int64_t a = std::max(offset, blockStart) - blockStart;
    const int64_t z = std::min(end, blockStart + kBlock) - blockStart;
    if (static_cast<int64_t>(blocks[i].size()) < z) {
      return Error{ErrorKind::Io, uri + ": short block in the read cache; the object may have changed"};
    }
    out.append(blocks[i], static_cast<size_t>(a), static_cast<size_t>(z - a));
  }
  // Keep the span for the next sequential read, unless it is a whole large object read at once.
  if (spanStart >= 0 && static_cast<int64_t>(spanBytes.size()) <= 2 * kMaxReadAhead) {
    last.offset = spanStart;
    last.bytes = std::move(spanBytes);
  }
  return out;
}

}  // namespace loom::storage
