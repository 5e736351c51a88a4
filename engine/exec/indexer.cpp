#include "exec/indexer.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <mutex>
#include <thread>

#include "core/thread_pool.h"
#include "media/object_reader.h"
#include "media/probe.h"
#include "storage/storage.h"

namespace loom::exec {

using core::ErrorKind;

namespace {

// Listing -> catalog hand-off, bounded so a fast lister cannot fill memory.
class ObjectQueue {
 public:
  explicit ObjectQueue(size_t capacity) : m_capacity(capacity) {}
  // Takes a whole chunk at once: one lock and one wake-up per chunk, not per object.
  bool push(std::vector<storage::ObjectInfo>& chunk) {
    std::unique_lock lock(m_mutex);
    m_notFull.wait(lock, [&] { return m_items.size() < m_capacity || m_abandoned; });
    if (m_abandoned) return false;
    for (auto& o : chunk) m_items.push_back(std::move(o));
    chunk.clear();
    m_notEmpty.notify_one();
    return true;
  }
  // Takes up to `max` items; false when the producer is done and nothing is left.
  bool take(std::vector<storage::ObjectInfo>& out, size_t max) {
    std::unique_lock lock(m_mutex);
    // A full batch, or whatever arrived within a quarter second of the first object: a slow
    // listing (a bucket across a network) reaches the catalog, and the person watching it, early.
    m_notEmpty.wait(lock, [&] { return !m_items.empty() || m_closed; });
    m_notEmpty.wait_for(lock, std::chrono::milliseconds(250), [&] { return m_items.size() >= max || m_closed; });
    while (!m_items.empty() && out.size() < max) {
      out.push_back(std::move(m_items.front()));
      m_items.pop_front();
    }
    m_notFull.notify_all();
    return !out.empty() || !m_closed;
  }
  void close() {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    m_notEmpty.notify_all();
  }
  void abandon() {
    std::lock_guard lock(m_mutex);
    m_abandoned = true;
    m_notFull.notify_all();
  }

 private:
  size_t m_capacity;
  std::mutex m_mutex;
  std::condition_variable m_notFull, m_notEmpty;
  std::deque<storage::ObjectInfo> m_items;
  bool m_closed = false, m_abandoned = false;
};

struct Pending {
  storage::ObjectInfo info;
  bool needsProbe = false;
  media::ProbeResult probe;
};

}  // namespace

core::Result<IndexResult> indexSource(catalog::Catalog& cat, const IndexOptions& options, core::Feedback& fb) {
  auto start = std::chrono::steady_clock::now();
  auto uri = storage::normalizeUri(options.uri);
  if (!uri.ok()) return uri.error();
  auto backend = storage::storageFor(uri.value());
  if (!backend.ok()) return backend.error();
  IndexResult result;
  result.source = uri.value();
  auto& db = cat.db();
  std::string startedAt = core::nowIsoUtc();

  {
    auto s = db.prepare(
        "INSERT INTO sources(uri, glob, created_at) VALUES(?,?,?) ON CONFLICT(uri, glob) DO NOTHING");
    s.bind(1, result.source).bind(2, options.glob).bind(3, startedAt);
    s.run();
    auto q = db.prepare("SELECT id FROM sources WHERE uri=? AND glob=?");
    q.bind(1, result.source).bind(2, options.glob);
    q.step();
    result.sourceId = q.int64(0);
  }

  ObjectQueue queue(options.batch * 4);
  core::Result<void> listResult;
  std::thread lister([&] {
    storage::ListOptions lo;
    lo.glob = options.glob;
    std::vector<storage::ObjectInfo> chunk;
    chunk.reserve(256);
    listResult = backend.value()->list(
        result.source, lo,
        [&](storage::ObjectInfo&& o) {
          chunk.push_back(std::move(o));
          return chunk.size() < 256 || queue.push(chunk);
        },
        &fb);
    if (!chunk.empty()) queue.push(chunk);
    queue.close();
  });

  // The only foreign key these writes touch is objects.source_id, set to the id just read above: the
  // check cannot fail, and with it on every insert ran a parent lookup and a statement journal (a
  // sixth of the indexing time). Restored on every exit path; the pragma is a no-op in a transaction.
  db.exec("PRAGMA foreign_keys=OFF");
  struct RestoreForeignKeys {
    catalog::Db& db;
    ~RestoreForeignKeys() { (void)db.tryExec("PRAGMA foreign_keys=ON"); }
  } restoreForeignKeys{db};

  // SQLite checkpoints the WAL inside the committing writer, so a bulk index paid for copying pages
  // into the database on its critical path (a fifth of the time). Instead a second connection
  // checkpoints beside it (PASSIVE never blocks the writer), and the writer's own auto-checkpoint is
  // off until the index ends.
  db.exec("PRAGMA wal_autocheckpoint=0");
  std::mutex checkpointMutex;
  std::condition_variable checkpointWake;
  bool writing = true;
  std::thread checkpointer([&] {
    auto cdb = catalog::Db::open(db.path(), false);
    if (!cdb.ok()) return;  // the writer's next commit is then bigger, nothing worse
    std::unique_lock lock(checkpointMutex);
    while (writing) {
      checkpointWake.wait_for(lock, std::chrono::milliseconds(50));
      lock.unlock();
      (void)cdb.value()->tryExec("PRAGMA wal_checkpoint(PASSIVE)");
      lock.lock();
    }
  });
  struct StopCheckpointer {
    catalog::Db& db;
    std::mutex& mutex;
    std::condition_variable& wake;
    bool& writing;
    std::thread& thread;
    ~StopCheckpointer() {
      {
        std::lock_guard lock(mutex);
        writing = false;
      }
      wake.notify_all();
      thread.join();
      (void)db.tryExec("PRAGMA wal_autocheckpoint=1000");
    }
  } stopCheckpointer{db, checkpointMutex, checkpointWake, writing, checkpointer};

  core::ThreadPool pool(options.threads);
  const media::MediaLimits limits;
  auto lookup = db.prepare("SELECT etag, probed_etag, source_id, probe_version FROM objects WHERE uri=?");
  // Probe results: the typed columns people filter objects on, every probed field in probe_json, and
  // the prober's version (media::kProbeVersion) so rows from an older prober are probed again.
  static constexpr const char* kProbed[] = {"mime", "format", "width", "height", "duration", "fps",
                                            "sample_rate", "channels", "pages", "probe_json", "probed_etag",
                                            "probe_version"};
  constexpr int kProbedCount = static_cast<int>(std::size(kProbed));
  std::string cols = "uri, name, etag, size, mtime, source_id, error, seen_at", params = "?,?,?,?,?,?,?,?";
  for (const char* c : kProbed) {
    cols += std::string(", ") + c;
    params += ",?";
  }
  // New objects (the common case of a first index) go in with a plain insert: an upsert needs a
  // statement journal per row and cost a third of the indexing time. OR IGNORE covers the rare object
  // that another process added between the lookup and this write; its row is as good as ours.
  auto insert = db.prepare("INSERT OR IGNORE INTO objects(" + cols + ") VALUES(" + params + ")");
  // Without a probe (--no-probe) the earlier probe's values stay; its probed_etag stays only while the
  // object is unchanged, so a changed object is probed on the next index that probes.
  std::string updates = "name=excluded.name, etag=excluded.etag, size=excluded.size, mtime=excluded.mtime, "
                        "source_id=excluded.source_id, error=excluded.error, seen_at=excluded.seen_at";
  for (const char* c : kProbed) {
    if (std::string_view(c) == "probed_etag") continue;
    updates += std::string(", ") + c + "=CASE WHEN excluded.probed_etag IS NULL THEN objects." + c +
               " ELSE excluded." + c + " END";
  }
  updates += ", probed_etag=CASE WHEN excluded.probed_etag IS NULL AND objects.etag=excluded.etag THEN "
             "objects.probed_etag ELSE excluded.probed_etag END";
  auto upsertStmt =
      db.prepare("INSERT INTO objects(" + cols + ") VALUES(" + params + ") ON CONFLICT(uri) DO UPDATE SET " + updates);
  auto touch = db.prepare("UPDATE objects SET seen_at=?, source_id=? WHERE uri=?");
  enum class Kind { Added, Changed, Unchanged, Moved };  // Moved: unchanged, but listed by another source

  // A folder indexed for the first time has no object under its prefix: every lookup would miss, so
  // skip them (the uri index answers this with one range probe).
  bool knownBefore = false;
  {
    std::string prefix = result.source;
    if (prefix.back() != '/') prefix += '/';
    std::string upper = prefix;
    upper.back() = static_cast<char>('/' + 1);
    auto q = db.prepare("SELECT 1 FROM objects WHERE (uri >= ? AND uri < ?) OR uri = ? LIMIT 1");
    q.bind(1, prefix).bind(2, upper).bind(3, result.source);
    knownBefore = q.step();
  }

  std::vector<storage::ObjectInfo> infos;
  std::vector<Pending> batch;
  bool cancelled = false;
  try {
    for (;;) {
      infos.clear();
      if (!queue.take(infos, options.batch)) break;
      if (infos.empty()) continue;
      if (fb.isCancelled()) {
        cancelled = true;
        break;
      }
      batch.clear();
      for (auto& o : infos) {
        Pending p;
        p.info = std::move(o);
        batch.push_back(std::move(p));
      }
      // Classify against the catalog: only new or changed objects are probed again. One read
      // transaction per batch: in autocommit mode every lookup would take and drop the locks itself.
      std::vector<Kind> kinds(batch.size(), Kind::Changed);
      if (knownBefore) db.exec("BEGIN");
      for (size_t i = 0; i < batch.size(); ++i) {
        auto& p = batch[i];
        if (!p.info.error.empty()) continue;
        if (!knownBefore) {
          ++result.added;
          kinds[i] = Kind::Added;
          p.needsProbe = options.probe;
          continue;
        }
        lookup.reset();
        lookup.bind(1, p.info.uri);
        if (lookup.step()) {
          bool same = lookup.text(0) == p.info.etag;
          bool probed = !lookup.isNull(1) && lookup.text(1) == p.info.etag && !lookup.isNull(3) &&
                        lookup.int64(3) == media::kProbeVersion;
          if (same) {
            ++result.unchanged;
            kinds[i] = lookup.int64(2) == result.sourceId ? Kind::Unchanged : Kind::Moved;
            p.needsProbe = options.probe && !probed;
          } else {
            ++result.changed;
            p.needsProbe = options.probe;
          }
        } else {
          ++result.added;
          kinds[i] = Kind::Added;
          p.needsProbe = options.probe;
        }
      }
      lookup.reset();
      if (knownBefore) db.exec("COMMIT");
      pool.parallelFor(batch.size(), [&](size_t i) {
        auto& p = batch[i];
        if (!p.needsProbe) return;
        media::ObjectReader reader(backend.value(), p.info.uri, p.info.size, limits.maxProbeBytes, limits.maxSeconds);
        p.probe = media::probeObject(reader, p.info.name, limits);
      });
      catalog::Transaction tx(db);
      std::string now = core::nowIsoUtc();
      for (size_t i = 0; i < batch.size(); ++i) {
        auto& p = batch[i];
        ++result.objects;
        if (kinds[i] == Kind::Unchanged && !p.needsProbe) continue;  // nothing to write
        if (kinds[i] == Kind::Moved && !p.needsProbe) {
          touch.reset();
          touch.bind(1, now).bind(2, result.sourceId).bind(3, p.info.uri);
          touch.run();
          continue;
        }
        std::string error = !p.info.error.empty() ? p.info.error : p.probe.error;
        if (!error.empty()) ++result.errors;
        if (p.needsProbe) ++result.probed;
        catalog::Stmt& upsert = kinds[i] == Kind::Added ? insert : upsertStmt;
        upsert.reset();
        upsert.bind(1, p.info.uri).bind(2, p.info.name);
        if (p.info.etag.empty()) upsert.bind(3, nullptr); else upsert.bind(3, p.info.etag);
        if (p.info.size >= 0) upsert.bind(4, p.info.size); else upsert.bind(4, nullptr);
        if (p.info.mtimeNs) upsert.bind(5, core::isoTimeUtc(p.info.mtimeNs)); else upsert.bind(5, nullptr);
        upsert.bind(6, result.sourceId);
        if (error.empty()) upsert.bind(7, nullptr); else upsert.bind(7, error);
        upsert.bind(8, now);
        if (p.needsProbe) {
          auto values = media::probeValues(p.probe);
          const auto& probeCols = media::probeColumns();
          int at = 9;
          for (const char* c : kProbed) {
            std::string_view name(c);
            if (name == "probe_json") {
              upsert.bind(at++, media::probeJson(values));
            } else if (name == "probed_etag") {
              upsert.bind(at++, p.info.etag);
            } else if (name == "probe_version") {
              upsert.bind(at++, int64_t{media::kProbeVersion});
            } else {
              core::Value v;
              for (size_t k = 0; k < probeCols.size(); ++k)
                if (probeCols[k].name == name) v = values[k];
              upsert.bind(at++, v);
            }
          }
        } else {
          for (int k = 0; k < kProbedCount; ++k) upsert.bind(9 + k, nullptr);
        }
        upsert.run();
      }
      tx.commit();
      fb.progress("index", result.objects, -1);
    }
  } catch (...) {
    queue.abandon();
    lister.join();
    throw;
  }
  queue.abandon();
  lister.join();
  if (cancelled || fb.isCancelled()) return core::makeError(ErrorKind::Cancelled, "indexing cancelled; the objects indexed so far are kept");
  if (!listResult.ok()) return listResult.error();

  {
    // Every listed entry was written with this source id, so whatever else carries it was not listed.
    auto m = db.prepare("SELECT count(*) FROM objects WHERE source_id=?");
    m.bind(1, result.sourceId);
    m.step();
    result.missing = std::max<int64_t>(0, m.int64(0) - result.objects);
    // A statement that has returned a row keeps its read snapshot until reset: the UPDATE below would
    // then have to upgrade that snapshot to a write, which SQLite refuses at once (SQLITE_BUSY, no
    // waiting) when another process wrote in between.
    m.reset();
    auto u = db.prepare("UPDATE sources SET indexed_at=?, object_count=? WHERE id=?");
    u.bind(1, core::nowIsoUtc()).bind(2, result.objects).bind(3, result.sourceId);
    u.run();
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace loom::exec
