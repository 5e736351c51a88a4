#pragma once
// The SQLite catalog: sources and indexed objects, datasets and their immutable versions, runs and
// node runs, node output tables (the per-node result cache), the model-call ledger, the call cache
// and blobs. Opening a catalog migrates its schema forward; a catalog written by a newer Loom is
// refused. Ownership: a Catalog owns its connection; use one Catalog per thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.h"
#include "core/result.h"
#include "core/value.h"

namespace loom::catalog {

constexpr int kSchemaVersion = 4;

struct DatasetSummary {
  std::string name;
  int64_t versions = 0;
  int64_t latestVersion = 0;
  int64_t latestRows = 0;
  std::string updatedAt;
};

struct DatasetVersion {
  int64_t id = 0;          // catalog-wide id of the version
  std::string name;        // dataset name
  int64_t version = 0;     // 1, 2, … within the dataset
  std::string tableName;   // the rows: _row, _src, then the columns
  std::string sourceTable; // node output table the rows were copied from (lineage: _src points into it)
  int64_t rowCount = 0;
  int64_t rowsFailed = 0;
  int64_t runId = 0;
  std::string nodeId;
  std::string contentHash;
  std::string createdAt;
  core::Schema schema;
};

struct RunInfo {
  int64_t id = 0;
  std::string flowName, flowPath, flowHash, status, error, startedAt, endedAt, appVersion;
  int64_t rowsFailed = 0;
  double costUsd = 0;
};

struct NodeRunInfo {
  int64_t id = 0;
  int64_t runId = 0;
  std::string nodeId, nodeType, nodeHash, paramsJson, status, tableName, startedAt, endedAt;
  int64_t rowsIn = 0, rowsOut = 0, rowsFailed = 0;
  bool cached = false;
  double seconds = 0, costUsd = 0;
};

// A node output table, addressed by the node's content hash.
struct NodeOutput {
  std::string hash;
  std::string nodeType;
  std::string tableName;
  std::string status;  // "partial" while being written, "complete" when done
  core::Schema schema;
  std::vector<std::string> inputTables;  // tables whose _row the _src column points into
  std::string datasetVersionInput;       // for dataset.read: "name@version" it read
  int64_t rowCount = 0;
  int64_t rowsFailed = 0;
};

class Catalog {
 public:
  // Opens or creates the catalog at `path` (creating parent folders) and migrates it, for reading and
  // writing: a catalog that cannot be written (read-only file system, permissions) is refused with
  // the reason and what to do, before anything is tried.
  static core::Result<std::unique_ptr<Catalog>> open(const std::string& path, bool create = true);
  // Opens an existing catalog for work that only reads it (listing datasets, showing, exporting,
  // lineage, cost): as open(path, false) when it can be written, otherwise read-only (Db::openReadOnly).
  // A read-only catalog must already have this Loom's schema version.
  static core::Result<std::unique_ptr<Catalog>> openForReading(const std::string& path);
  // $LOOM_HOME/catalog.db, else $XDG_DATA_HOME/loom/catalog.db, else ~/.local/share/loom/catalog.db.
  static std::string defaultPath();

  Db& db() { return *m_db; }
  bool readOnly() const { return m_db->readOnly(); }
  const std::string& path() const { return m_db->path(); }
  // Folder beside the catalog for blobs and other files that belong to it.
  std::string dataDir() const;

  // Datasets
  std::vector<DatasetSummary> datasets();
  // "name" (latest) or "name@3". NotFound error lists what exists.
  core::Result<DatasetVersion> resolveDataset(const std::string& spec);
  std::vector<DatasetVersion> versions(const std::string& name);
  // Calls `row` for rows ordered by _row, from `offset`, at most `limit` (< 0: all). The first value
  // passed is the _row id, the rest follow version.schema.
  void readRows(const DatasetVersion& version, int64_t offset, int64_t limit,
                const std::function<void(const std::vector<core::Value>&)>& row);

  // Node outputs
  std::optional<NodeOutput> nodeOutput(const std::string& hash);
  std::optional<NodeOutput> nodeOutputByTable(const std::string& tableName);

  // Runs
  std::optional<RunInfo> run(int64_t id);
  std::vector<NodeRunInfo> nodeRuns(int64_t runId);
  // Marks runs left "running" by processes that no longer exist as "interrupted".
  void markStaleRuns();

  static core::Schema schemaFromJson(const std::string& json);
  static std::string schemaToJson(const core::Schema& schema);

 private:
  explicit Catalog(std::unique_ptr<Db> db) : m_db(std::move(db)) {}
  core::Result<void> migrate();
  std::unique_ptr<Db> m_db;
};

}  // namespace loom::catalog
