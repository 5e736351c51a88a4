// quality.validate: checks each row against rules per column and sends the rows that pass to its
// first output port ("out") and the rows that fail to its second ("failed"), each failing row with a
// `violations` text saying what is wrong. The rules compile to one SQL expression over the input
// table (regular expressions through loom_regexp, RE2), so validation runs inside SQLite.

#include <cmath>
#include <set>

#include "core/value.h"
#include "nodes/builtin_provider.h"
#include "nodes/sql_check.h"

namespace loom::nodes {

using core::ErrorKind;
using core::makeError;
using core::quoteIdent;
using core::quoteLiteral;
using nlohmann::json;

namespace {

constexpr size_t kMaxRuleColumns = 200;  // one || per column in the SQL: SQLite's expression depth is 1000
constexpr size_t kMaxAllowedValues = 10000;

// The rules for one column, from `rules` or from a shorthand parameter.
struct ColumnRules {
  std::string param;   // where they came from, for messages: "rules" or "min_width"
  std::string column;
  bool notNull = false;
  bool optional = false;  // a null value passes the other rules
  std::optional<double> min, max;
  std::optional<std::string> regex;
  std::optional<json> in;  // a non-empty array of strings and numbers
};

std::string numberLiteral(double d) {
  if (d == std::floor(d) && std::fabs(d) < 9e15) return std::to_string(static_cast<int64_t>(d));
  return json(d).dump();  // shortest text that reads back as d
}

std::string columnsOf(const core::Schema& s) {
  std::string out;
  for (const auto& c : s.columns()) out += (out.empty() ? "" : ", ") + c.name;
  return out.empty() ? "none" : out;
}

// "[image/jpeg, image/png]", shortened when long.
std::string describeAllowed(const json& values) {
  std::string out;
  size_t shown = 0;
  for (const auto& v : values) {
    std::string t = v.is_string() ? v.get<std::string>() : v.dump();
    if (out.size() + t.size() > 120) break;
    out += (shown++ ? ", " : "") + t;
  }
  if (shown < values.size()) out += (shown ? ", " : "") + std::string("… ") + std::to_string(values.size() - shown) + " more";
  return "[" + out + "]";
}

core::Result<ColumnRules> parseColumnRules(const std::string& column, const json& r) {
  const std::string where = "parameter 'rules': column '" + column + "': ";
  ColumnRules c;
  c.param = "rules";
  c.column = column;
  if (!r.is_object() || r.empty())
    return makeError(ErrorKind::InvalidFlow, where + "rules are an object such as {\"min\": 512} or {\"not_null\": true}");
  for (const auto& [key, v] : r.items()) {
    if (key == "not_null" || key == "optional") {
      if (!v.is_boolean()) return makeError(ErrorKind::InvalidFlow, where + "'" + key + "' must be true or false");
      (key == "not_null" ? c.notNull : c.optional) = v.get<bool>();
    } else if (key == "min" || key == "max") {
      if (!v.is_number() || !std::isfinite(v.get<double>()))
        return makeError(ErrorKind::InvalidFlow, where + "'" + key + "' must be a number, got " + v.dump());
      (key == "min" ? c.min : c.max) = v.get<double>();
    } else if (key == "regex") {
      if (!v.is_string() || v.get<std::string>().empty())
        return makeError(ErrorKind::InvalidFlow, where + "'regex' must be a non-empty string");
      const std::string pattern = v.get<std::string>();
      if (pattern.find('\0') != std::string::npos)
        return makeError(ErrorKind::InvalidFlow, where + "'regex' must not contain a NUL character");
      if (auto ok = checkRegexp(pattern); !ok.ok()) return makeError(ErrorKind::InvalidFlow, where + ok.error().message);
      c.regex = pattern;
    } else if (key == "in") {
      if (!v.is_array() || v.empty() || v.size() > kMaxAllowedValues)
        return makeError(ErrorKind::InvalidFlow, where + "'in' must be a list of 1 to " + std::to_string(kMaxAllowedValues) +
                                                     " allowed values, such as [\"image/jpeg\", \"image/png\"]");
      for (const auto& e : v) {
        const bool text = e.is_string() && e.get<std::string>().find('\0') == std::string::npos;
        if (!text && !(e.is_number() && std::isfinite(e.get<double>())))
          return makeError(ErrorKind::InvalidFlow, where + "'in' holds " + e.dump() + "; allowed values are strings or numbers");
      }
      c.in = v;
    } else {
      return makeError(ErrorKind::InvalidFlow,
                       where + "unknown rule '" + key + "'; rules are not_null, min, max, regex, in and optional");
    }
  }
  if (c.min && c.max && *c.min > *c.max)
    return makeError(ErrorKind::InvalidFlow, where + "min " + numberLiteral(*c.min) + " is above max " + numberLiteral(*c.max));
  if (c.optional && c.notNull)
    return makeError(ErrorKind::InvalidFlow, where + "'optional' and 'not_null' contradict each other");
  if (c.optional && !c.min && !c.max && !c.regex && !c.in)
    return makeError(ErrorKind::InvalidFlow, where + "'optional' alone checks nothing; add min, max, regex or in");
  return c;
}

// Every rule of the node's parameters, the shorthands included; errors name the parameter.
core::Result<std::vector<ColumnRules>> parseRules(const Params& p) {
  std::vector<ColumnRules> out;
  json rules = p.contains("rules") && !p["rules"].is_null() ? p["rules"] : json::object();
  if (rules.is_string()) {  // from --param rules='{"width": {"min": 512}}'
    rules = json::parse(rules.get<std::string>(), nullptr, false);
    if (rules.is_discarded())
      return makeError(ErrorKind::InvalidFlow, "parameter 'rules': is not valid JSON; write an object such as "
                                               "{\"width\": {\"min\": 512}, \"label\": {\"not_null\": true}}");
  }
  if (!rules.is_object())
    return makeError(ErrorKind::InvalidFlow, "parameter 'rules': must be an object of column -> rules, such as "
                                             "{\"width\": {\"min\": 512}, \"label\": {\"not_null\": true}}");
  for (const auto& [column, r] : rules.items()) {
    auto c = parseColumnRules(column, r);
    if (!c.ok()) return c.error();
    out.push_back(std::move(c.value()));
  }
  for (const auto& [param, column] : {std::pair<const char*, const char*>{"min_width", "width"},
                                      {"min_height", "height"},
                                      {"min_duration", "duration"}}) {
    if (!p.contains(param) || p[param].is_null()) continue;
    ColumnRules c;
    c.param = param;
    c.column = column;
    c.min = p[param].get<double>();
    out.push_back(std::move(c));
  }
  if (out.empty())
    return makeError(ErrorKind::InvalidFlow, "parameter 'rules': no rules given; set rules (e.g. {\"label\": "
                                             "{\"not_null\": true}}) or min_width, min_height or min_duration");
  if (out.size() > kMaxRuleColumns)
    return makeError(ErrorKind::InvalidFlow, "parameter 'rules': " + std::to_string(out.size()) + " columns; at most " +
                                                 std::to_string(kMaxRuleColumns) + " can be checked by one node");
  return out;
}

// SQL that yields '; <message>' for each broken rule of the column, or NULL when the value passes.
std::string violationSql(const ColumnRules& c) {
  const std::string col = quoteIdent(c.column);
  const std::string shown = "quote(substr(CAST(" + col + " AS TEXT), 1, 60))";  // 'text', shortened
  std::vector<std::string> checks;
  if (c.min || c.max) {
    std::string range = "CASE WHEN typeof(" + col + ") NOT IN ('integer','real') THEN " +
                        quoteLiteral("; " + c.column + " ") + " || " + shown + " || ' is not a number'";
    if (c.min)
      range += " WHEN " + col + " < " + numberLiteral(*c.min) + " THEN " + quoteLiteral("; " + c.column + " ") + " || " + col +
               " || " + quoteLiteral(" < " + numberLiteral(*c.min));
    if (c.max)
      range += " WHEN " + col + " > " + numberLiteral(*c.max) + " THEN " + quoteLiteral("; " + c.column + " ") + " || " + col +
               " || " + quoteLiteral(" > " + numberLiteral(*c.max));
    checks.push_back(range + " END");
  }
  if (c.regex)
    checks.push_back("CASE WHEN NOT loom_regexp(" + quoteLiteral(*c.regex) + ", " + col + ") THEN " +
                     quoteLiteral("; " + c.column + " ") + " || " + shown + " || " +
                     quoteLiteral(" does not match " + *c.regex) + " END");
  if (c.in) {
    std::string list;
    for (const auto& v : *c.in)
      list += (list.empty() ? "" : ", ") + (v.is_string() ? quoteLiteral(v.get<std::string>()) : numberLiteral(v.get<double>()));
    checks.push_back("CASE WHEN " + col + " NOT IN (" + list + ") THEN " + quoteLiteral("; " + c.column + " ") + " || " +
                     shown + " || " + quoteLiteral(" not in " + describeAllowed(*c.in)) + " END");
  }
  // A missing value breaks every rule unless the column is optional: what cannot be checked fails.
  const std::string whenNull = c.optional ? "NULL" : quoteLiteral("; " + c.column + " is null");
  std::string valueChecks;
  for (const auto& check : checks) valueChecks += (valueChecks.empty() ? "" : " || ") + ("COALESCE(" + check + ", '')");
  if (valueChecks.empty()) valueChecks = "NULL";
  return "CASE WHEN " + col + " IS NULL THEN " + whenNull + " ELSE NULLIF(" + valueChecks + ", '') END";
}

class QualityValidate : public NodeType {
 public:
  std::string id() const override { return "quality.validate"; }
  std::string category() const override { return "Quality"; }
  std::string title() const override { return "Validate"; }
  std::string doc() const override {
    return "Checks every row against rules per column. Rows that pass leave by the first output (\"out\"); rows "
           "that break a rule leave by the second (\"failed\", reached in an edge as \"from\": \"<node>.failed\"), "
           "with a `violations` column listing what is wrong, e.g. \"width 300 < 512; mime 'image/gif' not in "
           "[image/jpeg, image/png]\" (null on passing rows). Both outputs have the input's columns plus "
           "`violations`.\n\n"
           "rules maps a column to its rules: {\"width\": {\"min\": 512}, \"mime\": {\"in\": [\"image/jpeg\", "
           "\"image/png\"]}, \"name\": {\"regex\": \"^[a-z0-9_]+\\\\.jpg$\"}, \"label\": {\"not_null\": true}}. "
           "Rules: not_null (true: the value must be present); min and max (numbers, inclusive; a value that is "
           "not a number breaks them); regex (an RE2 regular expression found anywhere in the value unless "
           "anchored with ^ and $; no back-references or look-around); in (the allowed values, strings or "
           "numbers). A null value breaks every rule of its column unless the column's rules say "
           "\"optional\": true. min_width, min_height (pixels) and min_duration (seconds) are shorthands for "
           "{\"min\": …} on width, height and duration.\n\n"
           "A row that failed upstream (its `error` is set) fails validation with \"error: <message>\" as its "
           "violation. A rule naming a column the input lacks, an unknown rule or an invalid regular expression "
           "stops the flow before it runs, with a message naming the parameter and the column.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec rules{"rules", ParamType::Json,
                    "column -> rules, e.g. {\"width\": {\"min\": 512}, \"label\": {\"not_null\": true}}; rules are "
                    "not_null, min, max, regex, in, optional",
                    false, nullptr};
    ParamSpec minWidth{"min_width", ParamType::Integer, "shorthand: the width column must be at least this (pixels)"};
    minWidth.minimum = 0;
    ParamSpec minHeight{"min_height", ParamType::Integer, "shorthand: the height column must be at least this (pixels)"};
    minHeight.minimum = 0;
    ParamSpec minDuration{"min_duration", ParamType::Number,
                          "shorthand: the duration column must be at least this (seconds)"};
    minDuration.minimum = 0;
    return {rules, minWidth, minHeight, minDuration};
  }
  std::vector<PortSpec> outputs() const override {
    return {{"out", "table", "rows that pass every rule"},
            {"failed", "table", "rows that break a rule or failed upstream, with their violations"}};
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto rules = parseRules(p);
    if (!rules.ok()) return rules.error();
    for (const auto& c : rules.value()) {
      if (!in[0].has(c.column))
        return makeError(ErrorKind::InvalidFlow, "parameter '" + c.param + "': column '" + c.column +
                                                     "' is not in the input (columns: " + columnsOf(in[0]) + ")");
    }
    core::Schema s = in[0];
    s.set({"violations", core::ColumnType::Text, "what the row breaks, '; '-separated; null when it passes"});
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const auto rules = parseRules(p).orThrow();
    const auto& in = ctx.inputs()[0];
    std::string checks;
    for (const auto& c : rules) checks += (checks.empty() ? "" : " || ") + ("COALESCE(" + violationSql(c) + ", '')");
    std::string violations = "substr(NULLIF(" + checks + ", ''), 3)";  // drops the first "; "
    if (in.schema.has("error"))
      violations = "CASE WHEN \"error\" IS NOT NULL THEN 'error: ' || \"error\" ELSE " + violations + " END";

    std::string columns;
    for (const auto& c : ctx.outputSchema().columns())
      columns += ", " + (c.name == "violations" ? std::string("_loom_violations") : quoteIdent(c.name));
    const std::string rows = "(SELECT _row AS _loom_src, (" + violations + ") AS _loom_violations, * FROM " +
                             quoteIdent(in.tableName) + ")";
    InsertOptions pass, fail;
    fail.port = 1;
    ctx.insertSelect("SELECT _loom_src" + columns + " FROM " + rows + " WHERE _loom_violations IS NULL ORDER BY _loom_src",
                     pass);
    ctx.insertSelect(
        "SELECT _loom_src" + columns + " FROM " + rows + " WHERE _loom_violations IS NOT NULL ORDER BY _loom_src", fail);
  }
};

}  // namespace

void addQualityNodes(NodeRegistry& registry) { registry.add(std::make_shared<QualityValidate>()); }

}  // namespace loom::nodes
