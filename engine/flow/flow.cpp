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
}  // namespace

core::Result<Flow> parseFlow(const std::string& text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann reports a byte offset; turn it into line:column for people.
    size_t off = std::min(e.byte, text.size()), line = 1, col = 1;
    for (size_t i = 0; i + 1 < off; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return bad(origin, "not valid JSON at line " + std::to_string(line) + ", column " + std::to_string(col) +
                           " (a .loomflow file is a JSON document)");
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
