#include <cmath>
#include <set>

#include "nodes/node_type.h"

namespace loom::nodes {

const char* paramTypeName(ParamType t) {
  switch (t) {
    case ParamType::String: return "string";
    case ParamType::Integer: return "integer";
    case ParamType::Number: return "number";
    case ParamType::Boolean: return "boolean";
    case ParamType::Enum: return "enum";
    case ParamType::Uri: return "uri";
    case ParamType::SqlExpr: return "sql-expression";
    case ParamType::SqlOrder: return "sql-order";
    case ParamType::ColumnMap: return "column-map";
    case ParamType::DatasetRef: return "dataset";
    case ParamType::StringList: return "string-list";
    case ParamType::Json: return "json";
  }
  return "string";
}

namespace {

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string describe(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

std::optional<std::string> checkOne(const ParamSpec& spec, const nlohmann::json& v) {
  switch (spec.type) {
    case ParamType::String:
    case ParamType::SqlExpr:
    case ParamType::SqlOrder:
      if (!v.is_string()) return "must be a string, got " + describe(v);
      break;
    case ParamType::Uri:
    case ParamType::DatasetRef:
      if (!v.is_string() || v.get<std::string>().empty()) return "must be a non-empty string, got " + describe(v);
      break;
    case ParamType::Integer:
      if (!v.is_number_integer()) return "must be a whole number, got " + describe(v);
      break;
    case ParamType::Number:
      if (!v.is_number()) return "must be a number, got " + describe(v);
      break;
    case ParamType::Boolean:
      if (!v.is_boolean()) return "must be true or false, got " + describe(v);
      break;
    case ParamType::Enum: {
      if (!v.is_string()) return "must be one of: " + joinNames(spec.choices);
      bool found = false;
      for (const auto& c : spec.choices) found = found || c == v.get<std::string>();
      if (!found) return "'" + v.get<std::string>() + "' is not allowed; use one of: " + joinNames(spec.choices);
      break;
    }
    case ParamType::StringList:
      if (!v.is_array()) return "must be a list of strings such as [\"a\", \"b\"], got " + describe(v);
      for (const auto& e : v)
        if (!e.is_string()) return "must be a list of strings; " + describe(e) + " is not a string";
      break;
    case ParamType::Json:
      break;
    case ParamType::ColumnMap:
      if (!v.is_object() || v.empty())
        return "must be an object of {\"new_column\": \"SQL expression\"}, got " + describe(v);
      for (const auto& [k, e] : v.items()) {
        if (!core::isValidColumnName(k))
          return "column name '" + k + "' is not allowed: use letters, digits and _, not starting with a digit or _";
        if (!e.is_string() || e.get<std::string>().empty())
          return "expression for '" + k + "' must be a non-empty string";
      }
      break;
  }
  if (v.is_number() && (spec.type == ParamType::Integer || spec.type == ParamType::Number)) {
    double d = v.get<double>();
    auto fmt = [](double x) {
      if (x == std::floor(x)) return std::to_string(static_cast<long long>(x));
      return std::to_string(x);
    };
    if (spec.minimum && d < *spec.minimum) return "must be at least " + fmt(*spec.minimum) + ", got " + describe(v);
    if (spec.maximum && d > *spec.maximum) return "must be at most " + fmt(*spec.maximum) + ", got " + describe(v);
  }
  return std::nullopt;
}

}  // namespace

ParamSpec intParam(std::string name, std::string doc, int64_t def, std::optional<double> minimum,
                   std::optional<double> maximum) {
  ParamSpec p{std::move(name), ParamType::Integer, std::move(doc), false, def};
  p.minimum = minimum;
  p.maximum = maximum;
  return p;
}

ParamSpec numberParam(std::string name, std::string doc, std::optional<double> def, std::optional<double> minimum,
                      std::optional<double> maximum) {
  ParamSpec p{std::move(name), ParamType::Number, std::move(doc), false, def ? nlohmann::json(*def) : nlohmann::json()};
  p.minimum = minimum;
  p.maximum = maximum;
  return p;
}

ParamSpec enumParam(std::string name, std::string doc, std::string def, std::vector<std::string> choices) {
  ParamSpec p{std::move(name), ParamType::Enum, std::move(doc), false, std::move(def)};
  p.choices = std::move(choices);
  return p;
}

std::vector<ParamError> checkParams(const std::vector<ParamSpec>& specs, Params& params) {
  std::vector<ParamError> errors;
  if (params.is_null()) params = nlohmann::json::object();
  if (!params.is_object()) {
    errors.push_back({"", "\"params\" must be a JSON object"});
    return errors;
  }
  std::set<std::string> known;
  std::vector<std::string> names;
  for (const auto& s : specs) {
    known.insert(s.name);
    names.push_back(s.name);
  }
  for (const auto& [k, v] : params.items()) {
    if (!known.count(k))
      errors.push_back({k, "unknown parameter" + (names.empty() ? std::string("; this node takes no parameters")
                                                                : "; allowed: " + joinNames(names))});
  }
  for (const auto& s : specs) {
    if (!params.contains(s.name) || params[s.name].is_null()) {
      if (s.required) {
        errors.push_back({s.name, "is required (" + s.doc + ")"});
        continue;
      }
      if (!s.defaultValue.is_null()) params[s.name] = s.defaultValue;
      continue;
    }
    if (auto msg = checkOne(s, params[s.name])) errors.push_back({s.name, *msg});
  }
  return errors;
}

}  // namespace loom::nodes
