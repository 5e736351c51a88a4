#include "catalog/catalog.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace loom::catalog {

namespace fs = std::filesystem;
using core::ErrorKind;
using nlohmann::json;

namespace {

// Migration N brings a catalog from user_version N-1 to N. Append new migrations; never edit old ones.
const char* const kMigrations[] = {
    // 1: the first release.
    R"SQL(
CREATE TABLE sources(
  id INTEGER PRIMARY KEY,
  uri TEXT NOT NULL,
  glob TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  indexed_at TEXT,
  object_count INTEGER NOT NULL DEFAULT 0,
  UNIQUE(uri, glob));
CREATE TABLE objects(
  id INTEGER PRIMARY KEY,
  uri TEXT NOT NULL UNIQUE,
  name TEXT,
  etag TEXT,
  size INTEGER,
  mtime TEXT,
  source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL,
  mime TEXT,
  width INTEGER,
  height INTEGER,
  probe_json TEXT,
  probed_etag TEXT,
  error TEXT,
  seen_at TEXT NOT NULL);
CREATE INDEX objects_source ON objects(source_id);
CREATE TABLE datasets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  flow_name TEXT NOT NULL,
  flow_path TEXT,
  flow_hash TEXT NOT NULL,
  flow_json TEXT NOT NULL,
  params_json TEXT NOT NULL DEFAULT '{}',
  app_version TEXT NOT NULL,
  price_table_version TEXT,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  status TEXT NOT NULL,
  error TEXT,
  rows_failed INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  pid INTEGER,
  host TEXT);
CREATE TABLE dataset_versions(
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL REFERENCES datasets(id),
  version INTEGER NOT NULL,
  table_name TEXT NOT NULL,
  source_table TEXT,
  row_count INTEGER NOT NULL,
  rows_failed INTEGER NOT NULL DEFAULT 0,
  columns_json TEXT NOT NULL,
  run_id INTEGER REFERENCES runs(id),
  node_id TEXT,
  content_hash TEXT,
  created_at TEXT NOT NULL,
  UNIQUE(dataset_id, version));
CREATE TABLE node_outputs(
  hash TEXT PRIMARY KEY,
  node_type TEXT NOT NULL,
  table_name TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  columns_json TEXT NOT NULL,
  input_tables TEXT NOT NULL DEFAULT '[]',
  dataset_input TEXT,
  row_count INTEGER NOT NULL DEFAULT 0,
  rows_failed INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  completed_at TEXT);
CREATE TABLE node_runs(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  node_id TEXT NOT NULL,
  node_type TEXT NOT NULL,
  node_hash TEXT,
  params_json TEXT NOT NULL,
  status TEXT NOT NULL,
  cached INTEGER NOT NULL DEFAULT 0,
  rows_in INTEGER NOT NULL DEFAULT 0,
  rows_out INTEGER NOT NULL DEFAULT 0,
  rows_failed INTEGER NOT NULL DEFAULT 0,
  table_name TEXT,
  started_at TEXT,
  ended_at TEXT,
  seconds REAL NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  error TEXT);
CREATE INDEX node_runs_run ON node_runs(run_id);
CREATE TABLE run_inputs(
  run_id INTEGER NOT NULL REFERENCES runs(id),
  kind TEXT NOT NULL,
  ref TEXT NOT NULL,
  PRIMARY KEY(run_id, kind, ref));
CREATE TABLE model_calls(
  id INTEGER PRIMARY KEY,
  run_id INTEGER REFERENCES runs(id),
  node_run_id INTEGER REFERENCES node_runs(id),
  node_id TEXT,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cached_tokens INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  latency_ms REAL,
  status TEXT NOT NULL,
  cache_hit INTEGER NOT NULL DEFAULT 0,
  request_json TEXT,
  response_json TEXT,
  error TEXT,
  created_at TEXT NOT NULL);
CREATE INDEX model_calls_run ON model_calls(run_id);
CREATE TABLE call_cache(
  request_hash TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  response_json TEXT NOT NULL,
  usage_json TEXT,
  created_at TEXT NOT NULL);
CREATE TABLE blobs(
  hash TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  mime TEXT,
  created_at TEXT NOT NULL);
)SQL",
    // 2: which run is writing (or wrote) each node output, so two processes on one catalog never
    // compute the same node table at once.
    R"SQL(
ALTER TABLE node_outputs ADD COLUMN run_id INTEGER;
)SQL",
    // 3: probing reads audio, video, PDF and text too. The columns people filter objects on are typed;
    // every probed field is in probe_json (see media::probeColumns()). probe_version names the prober
    // that wrote a row, so rows from an older one (NULL here) are probed again on the next index.
    R"SQL(
ALTER TABLE objects ADD COLUMN format TEXT;
ALTER TABLE objects ADD COLUMN duration REAL;
ALTER TABLE objects ADD COLUMN fps REAL;
ALTER TABLE objects ADD COLUMN sample_rate INTEGER;
ALTER TABLE objects ADD COLUMN channels INTEGER;
ALTER TABLE objects ADD COLUMN pages INTEGER;
ALTER TABLE objects ADD COLUMN probe_version INTEGER;
)SQL",
    // 4: model calls: how many attempts a call took, the compute seconds of local models, the node
    // type that made it, and the price-table version its cost came from. The call cache keeps how long
    // the original call took, so estimates and the ledger can say what a cache hit saved.
    R"SQL(
ALTER TABLE model_calls ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE model_calls ADD COLUMN compute_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE model_calls ADD COLUMN node_type TEXT;
ALTER TABLE model_calls ADD COLUMN price_version TEXT;
CREATE INDEX model_calls_created ON model_calls(created_at);
ALTER TABLE call_cache ADD COLUMN latency_ms REAL;
ALTER TABLE call_cache ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
)SQL",
};

constexpr int kMigrationCount = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));
static_assert(kMigrationCount == kSchemaVersion, "add a migration for each schema version");

}  // namespace

std::string Catalog::defaultPath() {
  if (const char* home = std::getenv("LOOM_HOME"); home && *home) return (fs::path(home) / "catalog.db").string();
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
    return (fs::path(xdg) / "loom" / "catalog.db").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".local" / "share" / "loom" / "catalog.db").string();
}

std::string Catalog::dataDir() const {
  fs::path p(path());
  return (p.parent_path() / (p.stem().string() + ".data")).string();
}

core::Result<std::unique_ptr<Catalog>> Catalog::open(const std::string& path, bool create) {
  if (auto why = catalogUnwritableReason(path); !why.empty()) {
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    return core::makeError(ErrorKind::Catalog,
                           (exists ? "catalog " + path + " is read-only: " + why +
                                         ". Writing to it needs a read-write file system (remount it) or write "
                                         "permission; reading it still works"
                                   : "cannot create catalog " + path + ": " + why + ". Choose a writable place for it"));
  }
  if (create) {
    std::error_code ec;
    fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec)
      return core::makeError(ErrorKind::Catalog,
                             "cannot create the catalog folder " + parent.string() + ": " + ec.message());
  }
  auto db = Db::open(path, create);
  if (!db.ok()) return db.error();
  std::unique_ptr<Catalog> cat(new Catalog(std::move(db).value()));
  auto m = cat->migrate();
  if (!m.ok()) return m.error();
  return cat;
}

core::Result<std::unique_ptr<Catalog>> Catalog::openForReading(const std::string& path) {
  if (catalogUnwritableReason(path).empty()) return open(path, false);
  auto db = Db::openReadOnly(path);
  if (!db.ok()) return db.error();
  std::unique_ptr<Catalog> cat(new Catalog(std::move(db).value()));
  auto m = cat->migrate();
  if (!m.ok()) return m.error();
  return cat;
}

core::Result<void> Catalog::migrate() {
  int version = 0;
  {
    auto s = m_db->tryPrepare("PRAGMA user_version");
    if (!s.ok())
      return core::makeError(ErrorKind::Catalog, path() + " is not a Loom catalog (" + s.error().message + ")");
    if (s->step()) version = static_cast<int>(s->int64(0));
  }
  if (version > kSchemaVersion)
    return core::makeError(ErrorKind::Catalog,
                           "catalog " + path() + " has schema version " + std::to_string(version) +
                               ", newer than this Loom understands (" + std::to_string(kSchemaVersion) +
                               "); update Loom to open it");
  if (version == 0) {
    // A non-empty database without our version stamp is someone else's file: do not touch it.
    auto s = m_db->prepare("SELECT count(*) FROM sqlite_master");
    s.step();
    if (s.int64(0) > 0)
      return core::makeError(ErrorKind::Catalog, path() + " is an SQLite database but not a Loom catalog; "
                                                          "choose another --catalog path");
  }
  if (m_db->readOnly() && version < kSchemaVersion)
    return core::makeError(ErrorKind::Catalog,
                           "catalog " + path() + " cannot be written (" + catalogUnwritableReason(path()) +
                               ") and has schema version " + std::to_string(version) + ", older than this Loom's (" +
                               std::to_string(kSchemaVersion) + "): open it once with write access so it is upgraded");
  for (int v = version; v < kSchemaVersion; ++v) {
    auto begin = m_db->tryExec("BEGIN IMMEDIATE");
    if (!begin.ok()) return core::makeError(ErrorKind::Catalog, "cannot migrate " + path() + ": " + begin.error().message);
    auto r = m_db->tryExec(kMigrations[v]);
    if (r.ok()) r = m_db->tryExec("PRAGMA user_version=" + std::to_string(v + 1));
    if (!r.ok()) {
      (void)m_db->tryExec("ROLLBACK");
      return core::makeError(ErrorKind::Catalog, "cannot migrate catalog " + path() + " to schema version " +
                                                     std::to_string(v + 1) + ": " + r.error().message);
    }
    auto c = m_db->tryExec("COMMIT");
    if (!c.ok()) return core::makeError(ErrorKind::Catalog, "cannot migrate " + path() + ": " + c.error().message);
  }
  return {};
}

std::vector<DatasetSummary> Catalog::datasets() {
  std::vector<DatasetSummary> out;
  auto s = m_db->prepare(R"(
    SELECT d.name, count(v.id), max(v.version),
           (SELECT row_count FROM dataset_versions WHERE dataset_id=d.id ORDER BY version DESC LIMIT 1),
           max(v.created_at)
    FROM datasets d LEFT JOIN dataset_versions v ON v.dataset_id=d.id
    GROUP BY d.id ORDER BY d.name)");
  while (s.step())
    out.push_back({s.text(0), s.int64(1), s.int64(2), s.int64(3), s.text(4)});
  return out;
}

namespace {
DatasetVersion versionFromRow(Stmt& s) {
  DatasetVersion v;
  v.id = s.int64(0);
  v.name = s.text(1);
  v.version = s.int64(2);
  v.tableName = s.text(3);
  v.sourceTable = s.text(4);
  v.rowCount = s.int64(5);
  v.rowsFailed = s.int64(6);
  v.schema = Catalog::schemaFromJson(s.text(7));
  v.runId = s.int64(8);
  v.nodeId = s.text(9);
  v.contentHash = s.text(10);
  v.createdAt = s.text(11);
  return v;
}
constexpr const char* kVersionCols =
    "v.id, d.name, v.version, v.table_name, v.source_table, v.row_count, v.rows_failed, v.columns_json, "
    "coalesce(v.run_id,0), v.node_id, v.content_hash, v.created_at";
}  // namespace

core::Result<DatasetVersion> Catalog::resolveDataset(const std::string& spec) {
  std::string name = spec;
  std::optional<int64_t> version;
  if (auto at = spec.rfind('@'); at != std::string::npos) {
    name = spec.substr(0, at);
    std::string v = spec.substr(at + 1);
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n <= 0)
      return core::makeError(ErrorKind::InvalidInput, "bad dataset version in '" + spec +
                                                          "': write NAME or NAME@N with N a version number ≥ 1");
    version = n;
  }
  std::string sql = std::string("SELECT ") + kVersionCols +
                    " FROM dataset_versions v JOIN datasets d ON d.id=v.dataset_id WHERE d.name=? " +
                    (version ? "AND v.version=?" : "ORDER BY v.version DESC LIMIT 1");
  auto s = m_db->prepare(sql);
  s.bind(1, name);
  if (version) s.bind(2, *version);
  if (s.step()) return versionFromRow(s);
  auto all = datasets();
  bool exists = false;
  std::string known;
  for (const auto& d : all) {
    if (d.name == name) exists = true;
    if (!known.empty()) known += ", ";
    known += d.name;
  }
  if (exists)
    return core::makeError(ErrorKind::NotFound, "dataset '" + name + "' has no version " +
                                                    std::to_string(version.value_or(0)) +
                                                    " (see `loom-cli datasets` for its versions)");
  return core::makeError(ErrorKind::NotFound, "no dataset named '" + name + "' in " + path() +
                                                  (known.empty() ? " (the catalog has no datasets yet)"
                                                                 : " (datasets: " + known + ")"));
}

std::vector<DatasetVersion> Catalog::versions(const std::string& name) {
  std::vector<DatasetVersion> out;
  auto s = m_db->prepare(std::string("SELECT ") + kVersionCols +
                         " FROM dataset_versions v JOIN datasets d ON d.id=v.dataset_id WHERE d.name=?"
                         " ORDER BY v.version");
  s.bind(1, name);
  while (s.step()) out.push_back(versionFromRow(s));
  return out;
}

void Catalog::readRows(const DatasetVersion& v, int64_t offset, int64_t limit,
                       const std::function<void(const std::vector<core::Value>&)>& row) {
  std::string cols = "_row";
  for (const auto& c : v.schema.columns()) cols += ", " + core::quoteIdent(c.name);
  // A version's table is filled once, by one INSERT into an empty table, so its _row ids are exactly
  // 1..N: skipping `offset` rows is a key lookup, and deep pages cost the same as the first one.
  auto s = m_db->prepare("SELECT " + cols + " FROM " + core::quoteIdent(v.tableName) +
                         " WHERE _row > ? ORDER BY _row LIMIT ?");
  s.bind(1, offset);
  s.bind(2, limit < 0 ? int64_t{-1} : limit);
  std::vector<core::Value> values(v.schema.size() + 1);
  while (s.step()) {
    for (int i = 0; i < static_cast<int>(values.size()); ++i) values[static_cast<size_t>(i)] = s.value(i);
    row(values);
  }
}

namespace {
NodeOutput nodeOutputFromRow(Stmt& s) {
  NodeOutput o;
  o.hash = s.text(0);
  o.nodeType = s.text(1);
  o.tableName = s.text(2);
  o.status = s.text(3);
  o.schema = Catalog::schemaFromJson(s.text(4));
  for (const auto& t : json::parse(s.text(5))) o.inputTables.push_back(t.get<std::string>());
  o.datasetVersionInput = s.text(6);
  o.rowCount = s.int64(7);
  o.rowsFailed = s.int64(8);
  return o;
}
constexpr const char* kNodeOutputCols =
    "hash, node_type, table_name, status, columns_json, input_tables, coalesce(dataset_input,''), row_count, "
    "rows_failed";
}  // namespace

std::optional<NodeOutput> Catalog::nodeOutput(const std::string& hash) {
  auto s = m_db->prepare(std::string("SELECT ") + kNodeOutputCols + " FROM node_outputs WHERE hash=?");
  s.bind(1, hash);
  if (!s.step()) return std::nullopt;
  return nodeOutputFromRow(s);
}

std::optional<NodeOutput> Catalog::nodeOutputByTable(const std::string& table) {
  auto s = m_db->prepare(std::string("SELECT ") + kNodeOutputCols + " FROM node_outputs WHERE table_name=?");
  s.bind(1, table);
  if (!s.step()) return std::nullopt;
  return nodeOutputFromRow(s);
}

std::optional<RunInfo> Catalog::run(int64_t id) {
  auto s = m_db->prepare(
      "SELECT id, flow_name, coalesce(flow_path,''), flow_hash, status, coalesce(error,''), started_at, "
      "coalesce(ended_at,''), app_version, rows_failed, cost_usd FROM runs WHERE id=?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  RunInfo r;
  r.id = s.int64(0);
  r.flowName = s.text(1);
  r.flowPath = s.text(2);
  r.flowHash = s.text(3);
  r.status = s.text(4);
  r.error = s.text(5);
  r.startedAt = s.text(6);
  r.endedAt = s.text(7);
  r.appVersion = s.text(8);
  r.rowsFailed = s.int64(9);
  r.costUsd = s.real(10);
  return r;
}

std::vector<NodeRunInfo> Catalog::nodeRuns(int64_t runId) {
  std::vector<NodeRunInfo> out;
  auto s = m_db->prepare(
      "SELECT id, run_id, node_id, node_type, coalesce(node_hash,''), params_json, status, coalesce(table_name,''),"
      " coalesce(started_at,''), coalesce(ended_at,''), rows_in, rows_out, rows_failed, cached, seconds, cost_usd"
      " FROM node_runs WHERE run_id=? ORDER BY id");
  s.bind(1, runId);
  while (s.step()) {
    NodeRunInfo n;
    n.id = s.int64(0);
    n.runId = s.int64(1);
    n.nodeId = s.text(2);
    n.nodeType = s.text(3);
    n.nodeHash = s.text(4);
    n.paramsJson = s.text(5);
    n.status = s.text(6);
    n.tableName = s.text(7);
    n.startedAt = s.text(8);
    n.endedAt = s.text(9);
    n.rowsIn = s.int64(10);
    n.rowsOut = s.int64(11);
    n.rowsFailed = s.int64(12);
    n.cached = s.int64(13) != 0;
    n.seconds = s.real(14);
    n.costUsd = s.real(15);
    out.push_back(std::move(n));
  }
  return out;
}

namespace {

// Whether the process `pid` on this host is still running. A killed process whose parent has not
// reaped it yet (a zombie) no longer runs anything: without this, a run killed by a script that never
// waits for its children would hold its node outputs until that script ends.
bool processRuns(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) return true;  // no /proc: trust kill()
  // "pid (comm) state …": comm may hold spaces and parentheses, so the state follows the last ')'.
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || (line[close + 2] != 'Z' && line[close + 2] != 'X');
}

}  // namespace

void Catalog::markStaleRuns() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::vector<int64_t> stale;
  {
    auto s = m_db->prepare("SELECT id, coalesce(pid,0), coalesce(host,'') FROM runs WHERE status='running'");
    while (s.step()) {
      auto pid = static_cast<pid_t>(s.int64(1));
      bool sameHost = s.text(2) == host;
      // A run on another host cannot be checked from here; leave it alone.
      if (sameHost && !processRuns(pid)) stale.push_back(s.int64(0));
    }
  }
  for (int64_t id : stale) {
    auto u = m_db->prepare(
        "UPDATE runs SET status='interrupted', error='the process ended before the run finished' "
        "WHERE id=? AND status='running'");
    u.bind(1, id);
    u.run();
  }
}

core::Schema Catalog::schemaFromJson(const std::string& text) {
  core::Schema schema;
  if (text.empty()) return schema;
  for (const auto& c : json::parse(text)) {
    core::Column col;
    col.name = c.at("name").get<std::string>();
    col.type = core::columnTypeFromName(c.value("type", "any")).value_or(core::ColumnType::Any);
    col.doc = c.value("doc", "");
    schema.set(std::move(col));
  }
  return schema;
}

std::string Catalog::schemaToJson(const core::Schema& schema) {
  json arr = json::array();
  for (const auto& c : schema.columns()) {
    json o = {{"name", c.name}, {"type", core::columnTypeName(c.type)}};
    if (!c.doc.empty()) o["doc"] = c.doc;
    arr.push_back(std::move(o));
  }
  return arr.dump();
}

}  // namespace loom::catalog
