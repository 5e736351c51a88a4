#include "nodes/node_docs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace loom::nodes {

namespace {

// Categories in the order a flow usually meets them; any other category follows, alphabetically.
const std::vector<std::string> kCategoryOrder = {"Sources", "Media",  "Image",   "Video",    "Audio", "Text",
                                                 "Table",   "Quality", "Models", "Datasets", "Export"};

std::string number(double v) {
  char buf[32];
  if (v == std::floor(v) && std::abs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Markdown table cells: no line breaks, and a literal | escaped.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n')
      out += ' ';
    else if (c == '|')
      out += "\\|";
    else
      out += c;
  }
  return out;
}

std::string anchor(const std::string& id) {
  std::string a;
  for (char c : id)
    if (c != '.') a += c;
  return a;
}

std::string paramDetails(const ParamSpec& p) {
  std::string d;
  if (p.required)
    d = "required";
  else if (!p.defaultValue.is_null())
    d = "default `" + p.defaultValue.dump() + "`";
  else
    d = "optional";
  if (!p.choices.empty()) {
    d += "; one of";
    for (size_t i = 0; i < p.choices.size(); ++i) d += std::string(i ? "," : "") + " `" + p.choices[i] + "`";
  }
  if (p.minimum && p.maximum)
    d += "; " + number(*p.minimum) + " to " + number(*p.maximum);
  else if (p.minimum)
    d += "; at least " + number(*p.minimum);
  else if (p.maximum)
    d += "; at most " + number(*p.maximum);
  return d;
}

std::string ports(const std::vector<PortSpec>& ps) {
  std::string s;
  for (const auto& p : ps) {
    s += (s.empty() ? "" : ", ") + std::string("`") + p.name + "`";
    if (!p.doc.empty()) s += " (" + p.doc + ")";
  }
  return s;
}

}  // namespace

std::string nodeReferenceMarkdown(const NodeRegistry& registry) {
  std::map<std::string, std::vector<const NodeType*>> byCategory;
  for (const auto* t : registry.all()) byCategory[t->category()].push_back(t);
  std::vector<std::string> categories;
  for (const auto& c : kCategoryOrder)
    if (byCategory.count(c)) categories.push_back(c);
  for (const auto& [c, types] : byCategory)
    if (std::find(categories.begin(), categories.end(), c) == categories.end()) categories.push_back(c);

  std::string md =
      "# Node reference\n\n"
      "Every node type a `.loomflow` file can use, with its parameters. Generated from the engine's parameter "
      "schemas by `loom-cli nodes --markdown > docs/nodes.md` (the `update-node-docs` build target); a test "
      "fails when this file is out of date. How flows, ports and parameters fit together: "
      "[FLOWS.md](FLOWS.md).\n\n"
      "Conventions: a row that cannot be processed gets its `error` column set and the run goes on; a row that "
      "failed upstream keeps its error and is passed through. Parameter types: `string-list` is a JSON array "
      "of strings, `json` a JSON value the node describes, `sql-expression`/`sql-order` are SQLite over the "
      "input's columns, `column-map` an object of new column name to SQL expression.\n\n";
  for (const auto& c : categories) {
    md += "- **" + c + "**:";
    for (const auto* t : byCategory[c]) md += " [`" + t->id() + "`](#" + anchor(t->id()) + ")";
    md += "\n";
  }
  for (const auto& c : categories) {
    md += "\n## " + c + "\n";
    for (const auto* t : byCategory[c]) {
      md += "\n### " + t->id() + "\n\n";
      md += "**" + t->title() + ".** " + t->doc() + "\n\n";
      const auto in = t->inputs(), out = t->outputs();
      md += "Inputs: " + (in.empty() ? std::string("none (a source)") : ports(in)) + ". ";
      md += "Outputs: " + (out.empty() ? std::string("none (writes a dataset or files; skipped by dry runs)") : ports(out)) +
            ".\n";
      const auto params = t->params();
      if (params.empty()) {
        md += "\nNo parameters.\n";
        continue;
      }
      md += "\n| parameter | type | | description |\n|---|---|---|---|\n";
      for (const auto& p : params)
        md += "| `" + p.name + "` | " + paramTypeName(p.type) + " | " + cell(paramDetails(p)) + " | " + cell(p.doc) + " |\n";
    }
  }
  return md;
}

}  // namespace loom::nodes
