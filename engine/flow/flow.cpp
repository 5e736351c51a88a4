#include "flow/flow.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace loom::flow {

using core::ErrorKind;
using nlohmann::json;

const Node* Flow::node(const std::string& id) const {
  for (const auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

Node* Flow::node(const std::string& id) {
  for (auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

bool isValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

Endpoint parseEndpoint(const std::string& text) {
  auto dot = text.find('.');
  if (dot == std::string::npos) return {text, ""};
  return {text.substr(0, dot), text.substr(dot + 1)};
}

namespace {
core::Error bad(const std::string& origin, const std::string& what) {
  return core::makeError(ErrorKind::InvalidFlow, origin + ": " + what);
}

// "line L, column C" of the byte at `offset`, for people.
std::string position(const std::string& text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < std::min(offset, text.size()); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

// Flows are shallow (a node's "ui" or "params" object holds a few levels). A deeply nested value
// is refused before parsing: saving it pretty-printed (runs record the flow) grows with the square
// of its depth, so a 40 KB file would become gigabytes.
constexpr int kMaxDepth = 64;

// The offset of the first '[' or '{' nested deeper than kMaxDepth, or npos.
size_t tooDeep(const std::string& text) {
  int depth = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (inString) {
      if (c == '\\') ++i;
      else if (c == '"') inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string::npos;
}

// What nlohmann says is wrong, without its exception prefix or the echo of the text it read:
// "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while parsing
// value - invalid literal; last read: '{x'" -> "invalid literal".
std::string parseProblem(const std::string& what) {
  std::string s = what;
  if (s.rfind("[json.exception.", 0) == 0) {
    if (size_t close = s.find("] "); close != std::string::npos) s = s.substr(close + 2);
  }
  if (size_t dash = s.find(" - "); dash != std::string::npos) s = s.substr(dash + 3);
  if (size_t last = s.find("; last read"); last != std::string::npos) s.resize(last);
  return s;
}

}  // namespace

core::Result<Flow> parseFlow(const std::string& text, const std::string& origin) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    return bad(origin, "the file is empty; a .loomflow file is a JSON document with \"format\", \"nodes\" and \"edges\"");
  if (size_t deep = tooDeep(text); deep != std::string::npos)
    return bad(origin, "a value nested more than " + std::to_string(kMaxDepth) + " levels deep at " +
                           position(text, deep) + "; a .loomflow file is never that deep (is it a flow?)");
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann reports a byte offset (one past the offending byte); people want line:column.
    return bad(origin, "not valid JSON at " + position(text, e.byte > 0 ? e.byte - 1 : 0) + ": " +
                           parseProblem(e.what()) + " (a .loomflow file is a JSON document)");
  } catch (const json::exception& e) {
    // out_of_range.406: a number too large for a double ("number overflow parsing '1e999'").
    const std::string problem = parseProblem(e.what());
    std::string where;
    if (size_t q = problem.find('\''); q != std::string::npos && problem.size() > q + 2) {
      const size_t at = text.find(problem.substr(q + 1, problem.size() - q - 2));
      if (at != std::string::npos) where = " at " + position(text, at);
    }
    return bad(origin, "not valid JSON" + where + ": " + problem + " (a .loomflow file is a JSON document)");
  }
  if (!doc.is_object()) return bad(origin, "the top level must be a JSON object with \"format\", \"nodes\" and \"edges\"");
  if (!doc.contains("format") || !doc["format"].is_string())
    return bad(origin, std::string("missing \"format\"; this Loom reads \"") + kFormat + "\"");
  std::string format = doc["format"];
  if (format != kFormat)
    return bad(origin, "unknown format \"" + format + "\"; this Loom reads \"" + kFormat +
                           "\" (a newer Loom may have written this file: update Loom to open it)");
  Flow flow;
  if (doc.contains("name")) {
    if (!doc["name"].is_string()) return bad(origin, "\"name\" must be a string");
    flow.name = doc["name"];
  }
  if (!doc.contains("nodes") || !doc["nodes"].is_array()) return bad(origin, "\"nodes\" must be an array of nodes");
  size_t i = 0;
  for (const auto& n : doc["nodes"]) {
    std::string where = "nodes[" + std::to_string(i++) + "]";
    if (!n.is_object()) return bad(origin, where + " must be an object with \"id\", \"type\" and \"params\"");
    if (!n.contains("id") || !n["id"].is_string()) return bad(origin, where + " needs a string \"id\"");
    Node node;
    node.id = n["id"];
    if (!n.contains("type") || !n["type"].is_string())
      return bad(origin, "node '" + node.id + "' needs a string \"type\" such as \"storage.list\"");
    node.type = n["type"];
    if (n.contains("params")) {
      if (!n["params"].is_object() && !n["params"].is_null())
        return bad(origin, "node '" + node.id + "': \"params\" must be an object");
      if (n["params"].is_object()) node.params = n["params"];
    }
    for (const auto& [k, v] : n.items())
      if (k != "id" && k != "type" && k != "params") node.extra[k] = v;
    flow.nodes.push_back(std::move(node));
  }
  if (doc.contains("edges")) {
    if (!doc["edges"].is_array()) return bad(origin, "\"edges\" must be an array of {\"from\": …, \"to\": …}");
    i = 0;
    for (const auto& e : doc["edges"]) {
      std::string where = "edges[" + std::to_string(i++) + "]";
      if (!e.is_object() || !e.contains("from") || !e.contains("to") || !e["from"].is_string() || !e["to"].is_string())
        return bad(origin, where + " must be {\"from\": \"node[.port]\", \"to\": \"node[.port]\"}");
      flow.edges.push_back({parseEndpoint(e["from"]), parseEndpoint(e["to"])});
    }
  }
  for (const auto& [k, v] : doc.items())
    if (k != "format" && k != "name" && k != "nodes" && k != "edges") flow.extra[k] = v;
  return flow;
}

core::Result<Flow> loadFlow(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::makeError(ErrorKind::NotFound, "cannot read flow file " + path + " (check the path)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parseFlow(ss.str(), path);
}

json flowToJson(const Flow& flow) {
  json doc = flow.extra;
  doc["format"] = kFormat;
  doc["name"] = flow.name;
  json nodes = json::array();
  for (const auto& n : flow.nodes) {
    json o = n.extra;
    o["id"] = n.id;
    o["type"] = n.type;
    o["params"] = n.params;
    nodes.push_back(std::move(o));
  }
  doc["nodes"] = std::move(nodes);
  json edges = json::array();
  for (const auto& e : flow.edges) edges.push_back({{"from", e.from.str()}, {"to", e.to.str()}});
  doc["edges"] = std::move(edges);
  return doc;
}

std::string serializeFlow(const Flow& flow) { return flowToJson(flow).dump(2) + "\n"; }

core::Result<void> saveFlow(const Flow& flow, const std::string& path) {
  std::string tmp = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return core::makeError(ErrorKind::Io, "cannot write " + tmp + " (check the folder's permissions)");
    out << serializeFlow(flow);
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return core::makeError(ErrorKind::Io, "cannot write " + path + " (is the disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return core::makeError(ErrorKind::Io, "cannot replace " + path);
  }
  return {};
}

}  // namespace loom::flow
