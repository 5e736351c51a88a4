// Structured operations. Each compiles to one INSERT … SELECT over the input's node table, so it runs
// inside SQLite at SQLite's speed and commits atomically.

#include <algorithm>
#include <cmath>
#include <cstdio>

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
  std::string doc() const override {
    return "Keeps the first `n` rows in the input's order, after skipping `offset` rows: a quick way to try a flow "
           "on a few rows before running it on everything, or to page through a sorted table.";
  }
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

std::string shortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Column names from a StringList parameter, each checked against the schema.
core::Result<std::vector<std::string>> columnsParam(const Params& p, const char* param, const core::Schema& schema,
                                                   const char* side = "the input") {
  std::vector<std::string> cols;
  for (const auto& c : p.at(param)) {
    std::string name = c.get<std::string>();
    if (!schema.has(name)) {
      std::string have;
      for (const auto& col : schema.columns()) have += (have.empty() ? "" : ", ") + col.name;
      return core::makeError(ErrorKind::InvalidFlow, std::string(param) + ": no column '" + name + "' in " + side +
                                                         " (columns: " + (have.empty() ? "none" : have) + ")");
    }
    cols.push_back(std::move(name));
  }
  return cols;
}

std::string joinQuoted(const std::vector<std::string>& cols, const std::string& prefix = {}) {
  std::string out;
  for (const auto& c : cols) out += (out.empty() ? "" : ", ") + prefix + quoteIdent(c);
  return out;
}

class TableJoin : public TableNode {
 public:
  std::string id() const override { return "table.join"; }
  std::string title() const override { return "Join tables"; }
  std::string doc() const override {
    return "Joins the `left` input with the `right` input on equal key columns, like SQL's JOIN: each left row "
           "is matched with every right row whose keys are equal (null keys match nothing). `inner` keeps only "
           "matched left rows; `left` keeps every left row, with nulls in the right's columns when nothing "
           "matched. The output has the left's columns, then the right's columns except its keys; a right "
           "column whose name the left already uses gets `suffix` appended. Rows come in the left's order, "
           "matches in the right's order. Row lineage follows the left input. Example: labels from a "
           "dataset joined to probed files with on = [\"uri\"].";
  }
  std::vector<PortSpec> inputs() const override {
    return {{"left", "table", "rows to keep (all of them with how = left)"},
            {"right", "table", "rows to match against"}};
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec how{"how", ParamType::Enum, "inner (matched rows only) or left (every left row)", false, "inner"};
    how.choices = {"inner", "left"};
    return {{"on", ParamType::StringList, "key columns present in both inputs, e.g. [\"uri\"]", false,
             nlohmann::json::array()},
            {"left_on", ParamType::StringList, "key columns of the left input (instead of on, when the names differ)",
             false, nlohmann::json::array()},
            {"right_on", ParamType::StringList, "key columns of the right input, paired with left_on in order", false,
             nlohmann::json::array()},
            how,
            {"suffix", ParamType::String, "appended to right column names the left already has", false, "_right"}};
  }

  struct Keys {
    std::vector<std::string> left, right;
  };
  static core::Result<Keys> keys(const Params& p, const std::vector<core::Schema>& in) {
    bool hasOn = !p.at("on").empty(), hasPair = !p.at("left_on").empty() || !p.at("right_on").empty();
    if (hasOn == hasPair)
      return core::makeError(ErrorKind::InvalidFlow,
                             "on: give the key columns either as on (same names on both sides) or as left_on and "
                             "right_on");
    Keys k;
    if (hasOn) {
      auto l = columnsParam(p, "on", in[0], "the left input");
      if (!l.ok()) return l.error();
      auto r = columnsParam(p, "on", in[1], "the right input");
      if (!r.ok()) return r.error();
      k.left = l.value();
      k.right = r.value();
    } else {
      auto l = columnsParam(p, "left_on", in[0], "the left input");
      if (!l.ok()) return l.error();
      auto r = columnsParam(p, "right_on", in[1], "the right input");
      if (!r.ok()) return r.error();
      if (l->size() != r->size())
        return core::makeError(ErrorKind::InvalidFlow, "right_on: name as many columns as left_on (" +
                                                           std::to_string(l->size()) + "), paired in order");
      k.left = l.value();
      k.right = r.value();
    }
    return k;
  }
  // Right columns in the output: (right name, output name).
  static std::vector<std::pair<std::string, std::string>> rightColumns(const Params& p, const core::Schema& left,
                                                                       const core::Schema& right, const Keys& k) {
    std::vector<std::pair<std::string, std::string>> out;
    const std::string suffix = p.at("suffix");
    for (const auto& c : right.columns()) {
      if (std::find(k.right.begin(), k.right.end(), c.name) != k.right.end()) continue;
      std::string name = c.name;
      while (left.has(name) || std::any_of(out.begin(), out.end(), [&](const auto& o) { return o.second == name; }))
        name += suffix;
      out.emplace_back(c.name, name);
    }
    return out;
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto k = keys(p, in);
    if (!k.ok()) return k.error();
    const std::string suffix = p.at("suffix");
    if (suffix.empty() || !core::isValidColumnName("x" + suffix))
      return core::makeError(ErrorKind::InvalidFlow, "suffix: use letters, digits and _, e.g. \"_right\"");
    core::Schema s = in[0];
    for (const auto& [from, name] : rightColumns(p, in[0], in[1], k.value())) {
      core::Column c = in[1][static_cast<size_t>(in[1].indexOf(from))];
      c.name = name;
      s.set(c);
    }
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs();
    auto k = keys(p, {in[0].schema, in[1].schema}).value();
    std::string select = "SELECT l._row";
    for (const auto& c : in[0].schema.columns()) select += ", l." + quoteIdent(c.name);
    for (const auto& [from, name] : rightColumns(p, in[0].schema, in[1].schema, k)) select += ", r." + quoteIdent(from);
    std::string on;
    for (size_t i = 0; i < k.left.size(); ++i)
      on += (i ? " AND " : "") + std::string("l.") + quoteIdent(k.left[i]) + " = r." + quoteIdent(k.right[i]);
    select += " FROM " + quoteIdent(in[0].tableName) + " l " + (p.at("how") == "left" ? "LEFT " : "") + "JOIN " +
              quoteIdent(in[1].tableName) + " r ON " + on + " ORDER BY l._row, r._row";
    ctx.insertSelect(select);
  }
};

class TableGroup : public TableNode {
 public:
  std::string id() const override { return "table.group"; }
  std::string title() const override { return "Group and aggregate"; }
  std::string doc() const override {
    return "One row per distinct combination of the `by` columns, with aggregate columns computed by SQL "
           "aggregate expressions over each group's rows, e.g. by = [\"mime\"], aggregates = {\"files\": "
           "\"count(*)\", \"bytes\": \"sum(size)\", \"widest\": \"max(width)\", \"names\": "
           "\"group_concat(name, ', ')\"}. Without `by`, the whole input is one group. Groups come in the order "
           "of their first row; each row's lineage points at that first row.";
  }
  std::vector<ParamSpec> params() const override {
    return {{"by", ParamType::StringList, "grouping columns (empty: one group of all rows)", false,
             nlohmann::json::array()},
            {"aggregates", ParamType::ColumnMap, "new column name -> SQL aggregate expression", true, nullptr}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto by = columnsParam(p, "by", in[0]);
    if (!by.ok()) return by.error();
    core::Schema s;
    for (const auto& b : by.value()) s.set(in[0][static_cast<size_t>(in[0].indexOf(b))]);
    for (const auto& [name, expr] : p.at("aggregates").items()) {
      if (s.has(name))
        return core::makeError(ErrorKind::InvalidFlow, "aggregates: '" + name + "' is also a grouping column");
      auto r = checkSql(in[0], expr.get<std::string>(), SqlPiece::Expression);
      if (!r.ok()) return paramError("aggregates", core::makeError(ErrorKind::InvalidFlow, "'" + name + "': " + r.error().message));
      s.set({name, ColumnType::Any, "aggregate: " + expr.get<std::string>()});
    }
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    auto by = columnsParam(p, "by", in.schema).value();
    std::string select = "SELECT min(_row)";
    for (const auto& b : by) select += ", " + quoteIdent(b);
    for (const auto& [name, expr] : p.at("aggregates").items()) select += ", (" + expr.get<std::string>() + "\n)";
    select += " FROM " + quoteIdent(in.tableName);
    if (!by.empty()) select += " GROUP BY " + joinQuoted(by);
    ctx.insertSelect(select + " ORDER BY 1");
  }
};

class TableUnion : public TableNode {
 public:
  std::string id() const override { return "table.union"; }
  std::string title() const override { return "Union of two tables"; }
  std::string doc() const override {
    return "Stacks the rows of input `a` and then input `b`. Columns are matched by name; a column only one "
           "side has is null on the other side's rows. `distinct` drops rows equal in every column to an earlier "
           "one (like SQL's UNION); otherwise every row is kept (UNION ALL). `source_column`, if set, names a "
           "column that records which input each row came from (\"a\" or \"b\"). Lineage follows each row to "
           "the input it came from. Chain unions to stack more tables.";
  }
  std::vector<PortSpec> inputs() const override {
    return {{"a", "table", "first rows"}, {"b", "table", "rows stacked after a's"}};
  }
  std::vector<ParamSpec> params() const override {
    return {{"distinct", ParamType::Boolean, "drop rows equal to an earlier row in every column", false, false},
            {"source_column", ParamType::String, "column recording the input of each row (\"a\"/\"b\"); empty: none",
             false, ""}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    core::Schema s = in[0];
    for (const auto& c : in[1].columns()) {
      int i = s.indexOf(c.name);
      if (i < 0)
        s.set(c);
      else if (s[static_cast<size_t>(i)].type != c.type)
        s.set({c.name, ColumnType::Any, s[static_cast<size_t>(i)].doc});
    }
    const std::string tag = p.at("source_column");
    if (!tag.empty()) {
      if (!core::isValidColumnName(tag))
        return core::makeError(ErrorKind::InvalidFlow, "source_column: '" + tag + "' is not a valid column name");
      if (s.has(tag))
        return core::makeError(ErrorKind::InvalidFlow, "source_column: the inputs already have a column '" + tag + "'");
      s.set({tag, ColumnType::Text, "the input this row came from: a or b"});
    }
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs();
    const std::string tag = p.at("source_column");
    auto side = [&](size_t k) {
      std::string sel = "SELECT _row AS _s, " + std::to_string(k) + " AS _i";
      for (const auto& c : ctx.outputSchema().columns()) {
        if (c.name == tag)
          sel += std::string(", '") + (k == 0 ? "a" : "b") + "'";
        else
          sel += in[k].schema.has(c.name) ? ", " + quoteIdent(c.name) : ", NULL";
        sel += " AS " + quoteIdent(c.name);
      }
      return sel + " FROM " + quoteIdent(in[k].tableName);
    };
    std::string all = side(0) + " UNION ALL " + side(1);
    std::string select;
    if (p.at("distinct").get<bool>()) {
      // The first of equal rows stays; IS-equality so that nulls are equal, as in SQL's UNION.
      std::string cols;
      for (const auto& c : ctx.outputSchema().columns())
        if (c.name != tag) cols += (cols.empty() ? "" : ", ") + quoteIdent(c.name);
      select = "SELECT _s, _i" + columnList(ctx.outputSchema()) + " FROM (SELECT *, row_number() OVER (PARTITION BY " +
               (cols.empty() ? std::string("1") : cols) + " ORDER BY _i, _s) AS _n FROM (" + all +
               ")) WHERE _n = 1 ORDER BY _i, _s";
    } else {
      select = "SELECT * FROM (" + all + ") ORDER BY _i, _s";
    }
    InsertOptions o;
    o.withInputIndex = true;
    ctx.insertSelect(select, o);
  }
};

class TableDedup : public TableNode {
 public:
  std::string id() const override { return "table.dedup"; }
  std::string title() const override { return "Drop duplicate rows"; }
  std::string doc() const override {
    return "Keeps one row per distinct value of the `by` columns (all columns when empty): the first one in "
           "the input's order, or the last with keep = last. Nulls count as equal. `count_column`, if set, "
           "names a column holding how many input rows had that key. To drop near-identical images rather than "
           "equal values, use image.phash and image.near_duplicates.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec keep{"keep", ParamType::Enum, "which row of a key to keep: first or last (input order)", false, "first"};
    keep.choices = {"first", "last"};
    return {{"by", ParamType::StringList, "key columns, e.g. [\"etag\"] (empty: all columns)", false,
             nlohmann::json::array()},
            keep,
            {"count_column", ParamType::String, "column for the number of rows with the key; empty: none", false, ""}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto by = columnsParam(p, "by", in[0]);
    if (!by.ok()) return by.error();
    core::Schema s = in[0];
    const std::string count = p.at("count_column");
    if (!count.empty()) {
      if (!core::isValidColumnName(count) || s.has(count))
        return core::makeError(ErrorKind::InvalidFlow,
                               "count_column: '" + count + "' must be a new column name (letters, digits, _)");
      s.set({count, ColumnType::Integer, "number of input rows with this row's key"});
    }
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    auto by = columnsParam(p, "by", in.schema).value();
    if (by.empty())
      for (const auto& c : in.schema.columns()) by.push_back(c.name);
    std::string key = by.empty() ? "1" : joinQuoted(by);
    const bool last = p.at("keep") == "last";
    const std::string count = p.at("count_column");
    std::string select = "SELECT _row";
    for (const auto& c : ctx.outputSchema().columns()) select += c.name == count ? ", _c" : ", " + quoteIdent(c.name);
    select += " FROM (SELECT *, row_number() OVER (PARTITION BY " + key + " ORDER BY _row" + (last ? " DESC" : "") +
              ") AS _n, count(*) OVER (PARTITION BY " + key + ") AS _c FROM " + quoteIdent(in.tableName) +
              ") WHERE _n = 1 ORDER BY _row";
    ctx.insertSelect(select);
  }
};

class TableSplit : public TableNode {
 public:
  std::string id() const override { return "table.split"; }
  std::string title() const override { return "Train/validation/test split"; }
  std::string doc() const override {
    return "Adds a `split` column assigning each row to a named part by a hash of its key (default: uri), "
           "e.g. fractions = {\"train\": 0.8, \"val\": 0.1, \"test\": 0.1}. The assignment depends only on the "
           "seed and the row's key: rows with the same key (the same file) always land in the same part, and "
           "a row keeps its part when others are added or removed. With `stratify`, each value of that column "
           "is split in the given proportions exactly (by rank of the hash within the value's rows), so rare "
           "classes appear in every part; a row's part can then change when rows of its class are added. "
           "Save each part with table.filter (split = 'train') and dataset.save.";
  }
  std::vector<ParamSpec> params() const override {
    return {{"fractions", ParamType::Json, "part name -> share of rows; shares add up to 1",
             false, nlohmann::json{{"train", 0.8}, {"val", 0.1}, {"test", 0.1}}},
            {"key", ParamType::String, "column whose value decides the part (default: uri, else row order)", false, ""},
            {"stratify", ParamType::String, "column whose values are each split in the given proportions; empty: none",
             false, ""},
            {"seed", ParamType::Integer, "seed of the hash", false, 0},
            {"column", ParamType::String, "output column", false, "split"}};
  }
  static core::Result<std::vector<std::pair<std::string, double>>> parts(const Params& p) {
    const auto& f = p.at("fractions");
    if (!f.is_object() || f.empty())
      return core::makeError(ErrorKind::InvalidFlow,
                             "fractions: must be an object such as {\"train\": 0.8, \"val\": 0.1, \"test\": 0.1}");
    std::vector<std::pair<std::string, double>> out;
    double sum = 0;
    for (const auto& [name, v] : f.items()) {
      if (name.empty() || name.size() > 64)
        return core::makeError(ErrorKind::InvalidFlow, "fractions: part names must be 1 to 64 characters");
      if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1)
        return core::makeError(ErrorKind::InvalidFlow, "fractions: '" + name + "' must be a share between 0 and 1");
      sum += v.get<double>();
      out.emplace_back(name, v.get<double>());
    }
    if (std::abs(sum - 1.0) > 1e-6)
      return core::makeError(ErrorKind::InvalidFlow,
                             "fractions: the shares add up to " + shortNumber(sum) + "; they must add up to 1");
    return out;
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto ps = parts(p);
    if (!ps.ok()) return ps.error();
    const std::string key = p.at("key"), strat = p.at("stratify"), column = p.at("column");
    if (!key.empty() && !in[0].has(key))
      return core::makeError(ErrorKind::InvalidFlow, "key: no column '" + key + "' in the input");
    if (!strat.empty() && !in[0].has(strat))
      return core::makeError(ErrorKind::InvalidFlow, "stratify: no column '" + strat + "' in the input");
    if (!core::isValidColumnName(column))
      return core::makeError(ErrorKind::InvalidFlow, "column: '" + column + "' is not a valid column name");
    core::Schema s = in[0];
    s.set({column, ColumnType::Text, "the part this row belongs to"});
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    const auto ps = parts(p).value();
    std::string key = p.at("key");
    if (key.empty()) key = in.schema.has("uri") ? "uri" : "_row";
    const std::string strat = p.at("stratify"), column = p.at("column");
    const std::string h = "loom_hash(" + std::to_string(p.at("seed").get<int64_t>()) + ", " +
                          (key == "_row" ? std::string("_row") : quoteIdent(key)) + ")";
    // A position in [0, 1): the hash itself, or with stratification the rank of the hash within the
    // row's class (the midpoint of its slot, so that shares round to the nearest row).
    std::string pos = "(" + h + " / 9223372036854775808.0)";
    std::string from = quoteIdent(in.tableName);
    if (!strat.empty()) {
      pos = "((row_number() OVER w - 0.5) / (count(*) OVER (PARTITION BY " + quoteIdent(strat) + ")))";
      from = from + " WINDOW w AS (PARTITION BY " + quoteIdent(strat) + " ORDER BY " + h + ", _row)";
    }
    std::string cases = "CASE";
    double upper = 0;
    for (size_t i = 0; i + 1 < ps.size(); ++i) {
      upper += ps[i].second;
      cases += " WHEN _p < " + std::to_string(upper) + " THEN " + core::quoteLiteral(ps[i].first);
    }
    cases += " ELSE " + core::quoteLiteral(ps.back().first) + " END";
    std::string select = "SELECT _row";
    for (const auto& c : ctx.outputSchema().columns()) select += c.name == column ? ", " + cases : ", " + quoteIdent(c.name);
    select += " FROM (SELECT *, " + pos + " AS _p FROM " + from + ") ORDER BY _row";
    ctx.insertSelect(select);
  }
};

class TableExplode : public TableNode {
 public:
  std::string id() const override { return "table.explode"; }
  std::string title() const override { return "One row per list item"; }
  std::vector<ParamSpec> params() const override {
    return {{"column", ParamType::String, "column holding a JSON array", true, nullptr},
            {"index_column", ParamType::String, "column for the item's position (from 0); empty: none", false, ""},
            {"keep_empty", ParamType::Boolean, "keep rows whose list is empty or null, with a null item", false, false}};
  }
  std::string doc() const override {
    return "Turns a column holding a JSON array (model answers, tags, detected objects) into one row per item: "
           "the other columns are repeated, the column holds the item (text or number; objects and arrays as "
           "JSON text, which json_extract() reads). Rows whose list is empty or null are dropped unless "
           "keep_empty is set. A value that is not a JSON array is kept as one row with its `error` set.";
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    const std::string column = p.at("column"), index = p.at("index_column");
    if (!in[0].has(column)) return core::makeError(ErrorKind::InvalidFlow, "column: no column '" + column + "' in the input");
    core::Schema s = in[0];
    s.set({column, ColumnType::Any, "one item of the list"});
    if (!index.empty()) {
      if (!core::isValidColumnName(index) || s.has(index))
        return core::makeError(ErrorKind::InvalidFlow, "index_column: '" + index + "' must be a new column name");
      s.set({index, ColumnType::Integer, "position of the item in its list, from 0"});
    }
    if (!s.has("error")) s.set({"error", ColumnType::Text, "why the row failed (here: not a JSON array); null when fine"});
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    const std::string column = p.at("column"), index = p.at("index_column");
    const std::string col = "t." + quoteIdent(column);
    // json_type() fails on text that is not JSON, so it is only asked once json_valid() said yes.
    const std::string isArray = "coalesce(CASE WHEN json_valid(" + col + ") THEN json_type(" + col + ") = 'array' END, 0)";
    const bool hadError = in.schema.has("error");
    auto select = [&](const std::string& item, const std::string& idx, const std::string& err) {
      std::string sel = "SELECT t._row AS _s, " + idx + " AS _k";
      for (const auto& c : ctx.outputSchema().columns()) {
        if (c.name == column)
          sel += ", " + item;
        else if (c.name == index)
          sel += ", " + idx;
        else if (c.name == "error")
          sel += ", " + (hadError ? "coalesce(t.\"error\", " + err + ")" : err);
        else
          sel += ", t." + quoteIdent(c.name);
        sel += " AS " + quoteIdent(c.name);
      }
      return sel;
    };
    const std::string msg = core::quoteLiteral("column '" + column + "' does not hold a JSON array");
    std::string from = " FROM " + quoteIdent(in.tableName) + " t";
    std::string items = select("j.value", "j.key", "NULL") + from + ", json_each(CASE WHEN " + isArray + " THEN " + col +
                        " ELSE '[]' END) j";
    std::string bad = select(col, "NULL", "CASE WHEN " + col + " IS NULL OR " + isArray + " THEN NULL ELSE " + msg + " END") +
                      from + " WHERE NOT " + isArray + " AND " + col + " IS NOT NULL";
    std::string empty = select("NULL", "NULL", "NULL") + from + " WHERE " + col + " IS NULL OR (" + isArray +
                        " AND json_array_length(" + col + ") = 0)";
    std::string all = items + " UNION ALL " + bad + (p.at("keep_empty").get<bool>() ? " UNION ALL " + empty : "");
    std::string cols = columnList(ctx.outputSchema());
    ctx.insertSelect("SELECT _s" + cols + " FROM (" + all + ") ORDER BY _s, _k");
  }
};

}  // namespace

void addTableNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<TableFilter>());
  registry.add(std::make_shared<TableDerive>());
  registry.add(std::make_shared<TableSample>());
  registry.add(std::make_shared<TableSort>());
  registry.add(std::make_shared<TableLimit>());
  registry.add(std::make_shared<TableJoin>());
  registry.add(std::make_shared<TableGroup>());
  registry.add(std::make_shared<TableUnion>());
  registry.add(std::make_shared<TableDedup>());
  registry.add(std::make_shared<TableSplit>());
  registry.add(std::make_shared<TableExplode>());
}

}  // namespace loom::nodes
