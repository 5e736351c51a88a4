#include "lineage/lineage.h"

#include <set>

namespace loom::lineage {

using core::ErrorKind;
using core::quoteIdent;

core::Result<DatasetLineage> datasetLineage(catalog::Catalog& cat, const std::string& spec) {
  auto v = cat.resolveDataset(spec);
  if (!v.ok()) return v.error();
  DatasetLineage out;
  out.version = v.value();
  auto& db = cat.db();
  if (out.version.runId) {
    out.run = cat.run(out.version.runId);
    out.nodes = cat.nodeRuns(out.version.runId);
    auto s = db.prepare("SELECT kind, ref FROM run_inputs WHERE run_id=? ORDER BY kind, ref");
    s.bind(1, out.version.runId);
    while (s.step()) out.inputs.emplace_back(s.text(0), s.text(1));
  }
  std::string ref = out.version.name + "@" + std::to_string(out.version.version);
  auto d = db.prepare(
      "SELECT r.id, r.flow_name, r.status FROM run_inputs i JOIN runs r ON r.id=i.run_id "
      "WHERE i.kind='dataset_version' AND i.ref=? ORDER BY r.id");
  d.bind(1, ref);
  while (d.step()) {
    DownstreamUse u{d.int64(0), d.text(1), d.text(2), {}};
    auto p = db.prepare(
        "SELECT d.name, v.version FROM dataset_versions v JOIN datasets d ON d.id=v.dataset_id WHERE v.run_id=?");
    p.bind(1, u.runId);
    while (p.step()) u.produced.push_back(p.text(0) + "@" + std::to_string(p.int64(1)));
    out.downstream.push_back(std::move(u));
  }
  return out;
}

namespace {

// One row of a table as JSON (Loom's own _-columns left out), plus its _src.
bool readRow(catalog::Db& db, const std::string& table, int64_t row, nlohmann::json& values, int64_t& src,
             bool& hasSrc, int64_t& input) {
  auto s = db.prepare("SELECT * FROM " + quoteIdent(table) + " WHERE _row=?");
  s.bind(1, row);
  if (!s.step()) return false;
  values = nlohmann::json::object();
  hasSrc = false;
  for (int i = 0; i < s.columnCount(); ++i) {
    std::string name = s.columnName(i);
    if (name == "_src") {
      hasSrc = !s.isNull(i);
      src = s.int64(i);
      continue;
    }
    if (name == "_in") {  // which of the node's inputs _src points into (NULL: the first)
      input = s.isNull(i) ? 0 : s.int64(i);
      continue;
    }
    if (name == "_row") continue;
    core::Value v = s.value(i);
    if (std::holds_alternative<int64_t>(v))
      values[name] = std::get<int64_t>(v);
    else if (std::holds_alternative<double>(v))
      values[name] = std::get<double>(v);
    else if (std::holds_alternative<std::string>(v))
      values[name] = std::get<std::string>(v);
    else if (std::holds_alternative<core::BlobValue>(v))
      values[name] = "<" + std::to_string(std::get<core::BlobValue>(v).bytes.size()) + " bytes>";
    else
      values[name] = nullptr;
  }
  return true;
}

}  // namespace

core::Result<RowLineage> rowLineage(catalog::Catalog& cat, const std::string& spec, int64_t row) {
  auto v = cat.resolveDataset(spec);
  if (!v.ok()) return v.error();
  auto& db = cat.db();
  RowLineage out;
  out.dataset = v->name + "@" + std::to_string(v->version);
  out.row = row;

  // Node ids by output table, from every run that produced one of the tables we pass.
  auto nodeLabel = [&](const std::string& table, const std::string& type) {
    auto s = db.prepare("SELECT node_id FROM node_runs WHERE table_name=? ORDER BY id DESC LIMIT 1");
    s.bind(1, table);
    return (s.step() ? s.text(0) + " (" + type + ")" : type);
  };

  catalog::DatasetVersion current = v.value();
  std::string table = current.tableName;
  int64_t at = row;
  std::set<std::string> seen;
  bool first = true;
  while (!table.empty()) {
    if (!seen.insert(table).second) break;  // defensive: lineage tables never form a cycle
    RowStep step;
    step.table = table;
    step.row = at;
    int64_t src = 0;
    bool hasSrc = false;
    int64_t input = 0;
    if (!readRow(db, table, at, step.values, src, hasSrc, input)) {
      if (first)
        return core::makeError(ErrorKind::NotFound, "dataset " + out.dataset + " has no row " + std::to_string(row) +
                                                        " (rows are numbered from 1; see `loom-cli show`)");
      step.kind = "missing";
      step.label = "table " + table + " is no longer in the catalog";
      out.steps.push_back(std::move(step));
      break;
    }
    first = false;
    std::string next;
    if (table.rfind("d_", 0) == 0) {
      auto s = db.prepare(
          "SELECT d.name, v.version, coalesce(v.source_table,'') FROM dataset_versions v "
          "JOIN datasets d ON d.id=v.dataset_id WHERE v.table_name=?");
      s.bind(1, table);
      if (s.step()) {
        step.kind = "dataset";
        step.label = s.text(0) + "@" + std::to_string(s.int64(1));
        next = s.text(2);
      }
    } else if (auto o = cat.nodeOutputByTable(table)) {
      step.kind = "node";
      step.label = nodeLabel(table, o->nodeType);
      if (input >= 0 && static_cast<size_t>(input) < o->inputTables.size())
        next = o->inputTables[static_cast<size_t>(input)];
    }
    if (next.empty() || !hasSrc) {
      if (step.values.contains("uri") && step.values["uri"].is_string()) out.sourceUri = step.values["uri"];
      if (step.values.contains("etag") && step.values["etag"].is_string()) out.sourceEtag = step.values["etag"];
      out.steps.push_back(std::move(step));
      break;
    }
    out.steps.push_back(std::move(step));
    table = next;
    at = src;
  }
  return out;
}

}  // namespace loom::lineage
