// dataset.read and dataset.save: the boundary between flows and immutable, versioned datasets.

#include <cctype>

#include "catalog/catalog.h"
#include "nodes/builtin_provider.h"

namespace loom::nodes {

using core::ColumnType;
using core::ErrorKind;
using core::quoteIdent;

namespace {

bool isValidDatasetName(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

class DatasetRead : public NodeType {
 public:
  std::string id() const override { return "dataset.read"; }
  std::string category() const override { return "Datasets"; }
  std::string title() const override { return "Read dataset"; }
  std::string doc() const override {
    return "Reads the rows of a dataset version: `name` (the latest version when the flow runs) or `name@3`.";
  }
  std::vector<ParamSpec> params() const override {
    return {{"dataset", ParamType::DatasetRef, "dataset name, or name@version", true, nullptr}};
  }
  std::vector<PortSpec> inputs() const override { return {}; }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>&,
                                          const ValidationContext& ctx) const override {
    if (!ctx.catalog)
      return core::makeError(ErrorKind::InvalidFlow, "dataset: needs a catalog to look up '" +
                                                         p.at("dataset").get<std::string>() + "'");
    auto v = ctx.catalog->resolveDataset(p.at("dataset"));
    if (!v.ok()) return core::makeError(ErrorKind::InvalidFlow, "dataset: " + v.error().message);
    return v->schema;
  }
  core::Result<std::string> runtimeKey(const Params& p, catalog::Catalog& catalog) const override {
    auto v = catalog.resolveDataset(p.at("dataset"));
    if (!v.ok()) return v.error();
    return std::to_string(v->id) + ":" + v->contentHash;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    auto v = ctx.catalog().resolveDataset(p.at("dataset")).orThrow();
    std::string spec = v.name + "@" + std::to_string(v.version);
    ctx.setLineageTable(v.tableName, spec);
    ctx.addRunInput("dataset_version", spec);
    std::string cols;
    for (const auto& c : ctx.outputSchema().columns()) cols += ", " + quoteIdent(c.name);
    ctx.insertSelect("SELECT _row" + cols + " FROM " + quoteIdent(v.tableName) + " ORDER BY _row", {v.tableName});
  }
};

class DatasetSave : public NodeType {
 public:
  std::string id() const override { return "dataset.save"; }
  std::string category() const override { return "Datasets"; }
  std::string title() const override { return "Save dataset"; }
  std::string doc() const override {
    return "Saves the input rows as a new immutable version of a named dataset. When the rows are the same "
           "as the latest version's (an unchanged flow run again), no new version is made.";
  }
  std::vector<ParamSpec> params() const override {
    return {{"name", ParamType::String, "dataset name: letters, digits, _ - .", true, nullptr}};
  }
  std::vector<PortSpec> outputs() const override { return {}; }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (!isValidDatasetName(p.at("name")))
      return core::makeError(ErrorKind::InvalidFlow,
                             "name: '" + p.at("name").get<std::string>() +
                                 "' is not a valid dataset name; use letters, digits, _ - . (at most 128)");
    return in[0];
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    auto& db = ctx.catalog().db();
    const std::string name = p.at("name");
    const auto& in = ctx.inputs()[0];
    catalog::Transaction tx(db);
    // Same content as the latest version: keep that version instead of making a copy.
    {
      auto s = db.prepare(
          "SELECT v.version, v.row_count FROM dataset_versions v JOIN datasets d ON d.id=v.dataset_id "
          "WHERE d.name=? ORDER BY v.version DESC LIMIT 1");
      s.bind(1, name);
      if (s.step()) {
        int64_t version = s.int64(0), rows = s.int64(1);
        auto h = db.prepare(
            "SELECT 1 FROM dataset_versions v JOIN datasets d ON d.id=v.dataset_id WHERE d.name=? AND v.version=? "
            "AND v.content_hash=?");
        h.bind(1, name).bind(2, version).bind(3, ctx.nodeHash());
        if (h.step()) {
          tx.commit();
          ctx.reportOutput(name, version, rows, true);
          return;
        }
      }
    }
    auto ins = db.prepare("INSERT INTO datasets(name, created_at) VALUES(?, ?) ON CONFLICT(name) DO NOTHING");
    ins.bind(1, name).bind(2, core::nowIsoUtc());
    ins.run();
    auto idq = db.prepare("SELECT id, (SELECT coalesce(max(version),0)+1 FROM dataset_versions WHERE dataset_id=datasets.id) FROM datasets WHERE name=?");
    idq.bind(1, name);
    idq.step();
    int64_t datasetId = idq.int64(0), version = idq.int64(1);

    // Columns typed "any" (derived) get the type their values actually have.
    core::Schema schema;
    for (auto c : in.schema.columns()) {
      if (c.type == ColumnType::Any) {
        auto t = db.prepare("SELECT DISTINCT typeof(" + quoteIdent(c.name) + ") FROM " + quoteIdent(in.tableName) +
                            " WHERE " + quoteIdent(c.name) + " IS NOT NULL LIMIT 3");
        std::vector<std::string> types;
        while (t.step()) types.push_back(t.text(0));
        if (types.size() == 1)
          c.type = core::columnTypeFromName(types[0]).value_or(ColumnType::Any);
        else if (types.size() == 2 && ((types[0] == "integer" && types[1] == "real") ||
                                       (types[0] == "real" && types[1] == "integer")))
          c.type = ColumnType::Real;
      }
      schema.set(c);
    }
    auto vi = db.prepare(
        "INSERT INTO dataset_versions(dataset_id, version, table_name, source_table, row_count, columns_json, run_id,"
        " node_id, content_hash, created_at) VALUES(?,?,'',?,0,?,?,?,?,?)");
    vi.bind(1, datasetId).bind(2, version).bind(3, in.tableName).bind(4, catalog::Catalog::schemaToJson(schema));
    vi.bind(5, ctx.runId()).bind(6, ctx.nodeId()).bind(7, ctx.nodeHash()).bind(8, core::nowIsoUtc());
    vi.run();
    int64_t versionId = db.lastInsertId();
    std::string table = "d_" + std::to_string(versionId);
    std::string ddl = "CREATE TABLE " + quoteIdent(table) + "(_row INTEGER PRIMARY KEY, _src INTEGER";
    std::string cols;
    for (const auto& c : schema.columns()) {
      ddl += ", " + quoteIdent(c.name) + " " + core::sqlTypeName(c.type);
      cols += ", " + quoteIdent(c.name);
    }
    db.exec(ddl + ")");
    db.exec("INSERT INTO " + quoteIdent(table) + "(_src" + cols + ") SELECT _row" + cols + " FROM " +
            quoteIdent(in.tableName) + " ORDER BY _row");
    int64_t rows = db.changes();
    int64_t failed = 0;
    if (schema.has("error")) {
      auto f = db.prepare("SELECT count(*) FROM " + quoteIdent(table) + " WHERE error IS NOT NULL");
      f.step();
      failed = f.int64(0);
    }
    auto up = db.prepare("UPDATE dataset_versions SET table_name=?, row_count=?, rows_failed=? WHERE id=?");
    up.bind(1, table).bind(2, rows).bind(3, failed).bind(4, versionId);
    up.run();
    tx.commit();
    ctx.reportOutput(name, version, rows, false);
  }
};

}  // namespace

void addDatasetNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<DatasetRead>());
  registry.add(std::make_shared<DatasetSave>());
}

}  // namespace loom::nodes
