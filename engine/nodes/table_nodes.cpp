// Structured operations. Each compiles to one INSERT … SELECT over the input's node table, so it runs
// inside SQLite at SQLite's speed and commits atomically.

#include "nodes/builtin_provider.h"
#include "nodes/sql_check.h"

namespace loom::nodes {

using core::ColumnType;
using core::ErrorKind;
using core::quoteIdent;

namespace {

core::Error paramError(const std::string& param, const core::Error& e) {
  return core::makeError(ErrorKind::InvalidFlow, param + ": " + e.message);
}

// "col1", "col2", … in the schema's order.
std::string columnList(const core::Schema& s) {
  std::string out;
  for (const auto& c : s.columns()) out += ", " + quoteIdent(c.name);
  return out;
}

class TableNode : public NodeType {
 public:
  std::string category() const override { return "Table"; }
};

class TableFilter : public TableNode {
 public:
  std::string id() const override { return "table.filter"; }
  std::string title() const override { return "Filter rows"; }
  std::string doc() const override {
    return "Keeps the rows for which an SQL condition over the columns is true, e.g. "
           "`width >= 1024 AND mime LIKE 'image/%'`. Rows where it is false or null are dropped.";
  }
  std::vector<ParamSpec> params() const override {
    return {{"where", ParamType::SqlExpr, "SQL condition over the input columns", true, nullptr}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto r = checkSql(in[0], p.at("where"), SqlPiece::Condition);
    if (!r.ok()) return paramError("where", r.error());
    return in[0];
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    ctx.insertSelect("SELECT _row" + columnList(ctx.outputSchema()) + " FROM " + quoteIdent(in.tableName) +
                     " WHERE (" + p.at("where").get<std::string>() + "\n) ORDER BY _row");
  }
};

class TableDerive : public TableNode {
 public:
  std::string id() const override { return "table.derive"; }
  std::string title() const override { return "Derive columns"; }
  std::string doc() const override {
    return "Adds (or replaces) columns computed by SQL expressions over the input columns, e.g. "
           "{\"megapixels\": \"width * height / 1e6\", \"ext\": \"lower(substr(name, instr(name, '.') + 1))\"}.";
  }
  std::vector<ParamSpec> params() const override {
    return {{"columns", ParamType::ColumnMap, "new column name -> SQL expression", true, nullptr}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    core::Schema s = in[0];
    for (const auto& [name, expr] : p.at("columns").items()) {
      auto r = checkSql(in[0], expr.get<std::string>(), SqlPiece::Expression);
      if (!r.ok()) return paramError("columns", core::makeError(ErrorKind::InvalidFlow, "'" + name + "': " + r.error().message));
      s.set({name, ColumnType::Any, "derived: " + expr.get<std::string>()});
    }
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    const auto& cols = p.at("columns");
    std::string select = "SELECT _row";
    for (const auto& c : ctx.outputSchema().columns()) {
      if (cols.contains(c.name))
        select += ", (" + cols.at(c.name).get<std::string>() + "\n)";
      else
        select += ", " + quoteIdent(c.name);
    }
    ctx.insertSelect(select + " FROM " + quoteIdent(in.tableName) + " ORDER BY _row");
  }
};

class TableSample : public TableNode {
 public:
  std::string id() const override { return "table.sample"; }
  std::string title() const override { return "Sample rows"; }
  std::string doc() const override {
    return "Keeps a deterministic pseudo-random sample: `n` rows, or a `fraction` of the rows. The choice "
           "depends only on the seed and each row's key (default: uri), so it is stable when other rows come "
           "and go.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec n{"n", ParamType::Integer, "number of rows to keep (0: use fraction)", false, 0};
    n.minimum = 0;
    ParamSpec f{"fraction", ParamType::Number, "share of rows to keep, 0..1 (0: use n)", false, 0.0};
    f.minimum = 0;
    f.maximum = 1;
    return {n, f, {"seed", ParamType::Integer, "seed of the pseudo-random choice", false, 0},
            {"key", ParamType::String, "column whose value decides the choice (default: uri, else row order)", false, ""}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    bool hasN = p.at("n").get<int64_t>() > 0, hasF = p.at("fraction").get<double>() > 0;
    if (hasN == hasF)
      return core::makeError(ErrorKind::InvalidFlow, "n: set exactly one of 'n' (a row count) or 'fraction' (0..1)");
    std::string key = p.at("key");
    if (!key.empty() && !in[0].has(key))
      return core::makeError(ErrorKind::InvalidFlow, "key: no column '" + key + "' in the input");
    return in[0];
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    std::string key = p.at("key");
    if (key.empty()) key = in.schema.has("uri") ? "uri" : "_row";
    std::string h = "loom_hash(" + std::to_string(p.at("seed").get<int64_t>()) + ", " +
                    (key == "_row" ? std::string("_row") : quoteIdent(key)) + ")";
    std::string cols = columnList(ctx.outputSchema());
    std::string from = quoteIdent(in.tableName);
    int64_t n = p.at("n");
    if (n > 0) {
      ctx.insertSelect("SELECT _row" + cols + " FROM (SELECT * FROM " + from + " ORDER BY " + h + ", _row LIMIT " +
                       std::to_string(n) + ") ORDER BY _row");
    } else {
      // loom_hash is uniform over [0, 2^63): keep a row when its hash falls below fraction * 2^63.
      double limit = p.at("fraction").get<double>() * 9223372036854775807.0;
      ctx.insertSelect("SELECT _row" + cols + " FROM " + from + " WHERE " + h + " < " + std::to_string(limit) +
                       " ORDER BY _row");
    }
  }
};

class TableSort : public TableNode {
 public:
  std::string id() const override { return "table.sort"; }
  std::string title() const override { return "Sort rows"; }
  std::string doc() const override {
    return "Orders rows by an SQL ORDER BY list, e.g. `size DESC, name`. Ties keep their input order.";
  }
  std::vector<ParamSpec> params() const override {
    return {{"by", ParamType::SqlOrder, "ORDER BY list over the input columns", true, nullptr}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto r = checkSql(in[0], p.at("by"), SqlPiece::OrderBy);
    if (!r.ok()) return paramError("by", r.error());
    return in[0];
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    ctx.insertSelect("SELECT _row" + columnList(ctx.outputSchema()) + " FROM " + quoteIdent(in.tableName) +
                     " ORDER BY " + p.at("by").get<std::string>() + "\n, _row");
  }
};

class TableLimit : public TableNode {
 public:
  std::string id() const override { return "table.limit"; }
  std::string title() const override { return "First rows"; }
  std::string doc() const override { return "Keeps the first `n` rows (after skipping `offset`)."; }
  std::vector<ParamSpec> params() const override {
    ParamSpec n{"n", ParamType::Integer, "rows to keep", true, nullptr};
    n.minimum = 0;
    ParamSpec o{"offset", ParamType::Integer, "rows to skip first", false, 0};
    o.minimum = 0;
    return {n, o};
  }
  core::Result<core::Schema> outputSchema(const Params&, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    return in[0];
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    ctx.insertSelect("SELECT _row" + columnList(ctx.outputSchema()) + " FROM " + quoteIdent(in.tableName) +
                     " ORDER BY _row LIMIT " + std::to_string(p.at("n").get<int64_t>()) + " OFFSET " +
                     std::to_string(p.at("offset").get<int64_t>()));
  }
};

}  // namespace

void addTableNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<TableFilter>());
  registry.add(std::make_shared<TableDerive>());
  registry.add(std::make_shared<TableSample>());
  registry.add(std::make_shared<TableSort>());
  registry.add(std::make_shared<TableLimit>());
}

}  // namespace loom::nodes
