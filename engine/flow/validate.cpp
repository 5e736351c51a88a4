#include "flow/validate.h"

#include <algorithm>
#include <deque>
#include <set>

#include "storage/storage.h"

namespace loom::flow {

std::string FlowIssue::str() const {
  std::string s;
  if (!nodeId.empty()) s += "node '" + nodeId + "'";
  if (!param.empty()) s += (s.empty() ? "" : ", ") + std::string("parameter '") + param + "'";
  return s.empty() ? message : s + ": " + message;
}

std::string Validation::message() const {
  std::string s;
  for (const auto& i : issues) s += (s.empty() ? "" : "\n") + i.str();
  return s;
}

namespace {

std::string knownTypes(const nodes::NodeRegistry& registry) {
  std::string s;
  for (const auto* t : registry.all()) s += (s.empty() ? "" : ", ") + t->id();
  return s;
}

int portIndex(const std::vector<nodes::PortSpec>& ports, const std::string& name) {
  if (name.empty()) return ports.size() == 1 ? 0 : -1;
  for (size_t i = 0; i < ports.size(); ++i)
    if (ports[i].name == name) return static_cast<int>(i);
  return -1;
}

// An edge without a port name leaves from a node's first output port (NodeType::outputs()).
int outputPortIndex(const std::vector<nodes::PortSpec>& ports, const std::string& name) {
  if (name.empty()) return ports.empty() ? -1 : 0;
  return portIndex(ports, name);
}

std::string portNames(const std::vector<nodes::PortSpec>& ports) {
  std::string s;
  for (const auto& p : ports) s += (s.empty() ? "" : ", ") + p.name;
  return s.empty() ? "none" : s;
}

}  // namespace

Validation validateFlow(const Flow& flow, const nodes::NodeRegistry& registry, const nodes::ValidationContext& ctx,
                        const std::map<std::string, nlohmann::json>& overrides) {
  Validation v;
  auto issue = [&](const std::string& node, const std::string& param, const std::string& msg) {
    v.issues.push_back({node, param, msg});
  };
  if (flow.nodes.empty()) issue("", "", "the flow has no nodes; add at least a source such as storage.list");

  std::map<std::string, ValidatedNode> byId;
  std::vector<std::string> ids;
  for (const auto& n : flow.nodes) {
    if (!isValidNodeId(n.id)) {
      issue(n.id, "", "node ids may use letters, digits, _ and - (at most 64 characters)");
      continue;
    }
    if (byId.count(n.id)) {
      issue(n.id, "", "two nodes have this id; ids must be unique");
      continue;
    }
    ValidatedNode vn;
    vn.node = &n;
    vn.type = registry.find(n.type);
    if (!vn.type) issue(n.id, "", "unknown node type '" + n.type + "'; known types: " + knownTypes(registry));
    vn.params = n.params;
    byId[n.id] = std::move(vn);
    ids.push_back(n.id);
  }
  for (const auto& [key, value] : overrides) {
    auto dot = key.find('.');
    std::string nodeId = key.substr(0, dot);
    if (dot == std::string::npos || !byId.count(nodeId)) {
      std::string known;
      for (const auto& id : ids) known += (known.empty() ? "" : ", ") + id;
      issue("", "", "--param " + key + ": write NODE.PARAM=VALUE with NODE one of the flow's node ids (" + known + ")");
      continue;
    }
    auto& vn = byId[nodeId];
    std::string param = key.substr(dot + 1);
    nlohmann::json typed = value;
    // Command-line values arrive as text; give them the type the parameter declares.
    if (typed.is_string() && vn.type) {
      for (const auto& spec : vn.type->params()) {
        if (spec.name != param) continue;
        const std::string text = typed.get<std::string>();
        if (spec.type == nodes::ParamType::Integer || spec.type == nodes::ParamType::Number ||
            spec.type == nodes::ParamType::Boolean || spec.type == nodes::ParamType::ColumnMap ||
            spec.type == nodes::ParamType::StringList || spec.type == nodes::ParamType::Json) {
          auto parsed = nlohmann::json::parse(text, nullptr, false);
          if (!parsed.is_discarded()) typed = parsed;
        }
      }
    }
    vn.params[param] = typed;
  }
  for (auto& [id, vn] : byId) {
    if (!vn.type) continue;
    auto errors = nodes::checkParams(vn.type->params(), vn.params);
    for (const auto& e : errors) issue(id, e.param, e.message);
    // URIs are made absolute here so that the node's cache key does not depend on the working folder.
    for (const auto& spec : vn.type->params()) {
      if (spec.type != nodes::ParamType::Uri || !vn.params.contains(spec.name) || !vn.params[spec.name].is_string())
        continue;
      std::string raw = vn.params[spec.name];
      if (!ctx.baseDir.empty() && raw.find("://") == std::string::npos && !raw.empty() && raw[0] != '/' &&
          raw[0] != '~')
        raw = ctx.baseDir + "/" + raw;
      auto uri = storage::normalizeUri(raw);
      if (!uri.ok())
        issue(id, spec.name, uri.error().message);
      else
        vn.params[spec.name] = uri.value();
    }
    vn.upstream.assign(vn.type->inputs().size(), "");
  }

  // Edges: both ends exist, ports exist, each input port fed exactly once.
  std::map<std::string, std::set<std::string>> downstream;
  for (const auto& e : flow.edges) {
    std::string where = "edge " + e.from.str() + " -> " + e.to.str();
    if (!byId.count(e.from.node)) {
      issue("", "", where + ": no node '" + e.from.node + "'");
      continue;
    }
    if (!byId.count(e.to.node)) {
      issue("", "", where + ": no node '" + e.to.node + "'");
      continue;
    }
    auto& src = byId[e.from.node];
    auto& dst = byId[e.to.node];
    // An edge from a node with an unknown type or port still feeds its input: that node's issue is
    // reported once, not again as "input … is not connected" downstream.
    if (src.type && outputPortIndex(src.type->outputs(), e.from.port) < 0)
      issue(e.from.node, "", where + ": " + src.type->id() + " has no output port '" + e.from.port +
                                 "' (outputs: " + portNames(src.type->outputs()) + ")");
    if (!dst.type) continue;
    int in = portIndex(dst.type->inputs(), e.to.port);
    if (in < 0) {
      issue(e.to.node, "", where + ": " + dst.type->id() + " has no input port" +
                               (e.to.port.empty() ? "" : " '" + e.to.port + "'") +
                               " (inputs: " + portNames(dst.type->inputs()) + ")");
      continue;
    }
    auto& slot = dst.upstream[static_cast<size_t>(in)];
    if (!slot.empty()) {
      issue(e.to.node, "", "input '" + dst.type->inputs()[static_cast<size_t>(in)].name + "' is connected twice (from '" +
                               slot + "' and '" + e.from.str() + "'); an input takes one edge");
      continue;
    }
    // A node's first output port is the node itself; a later one is "<node>.<port>".
    slot = e.from.node;
    if (src.type && outputPortIndex(src.type->outputs(), e.from.port) > 0) slot += "." + e.from.port;
    downstream[e.from.node].insert(e.to.node);
  }
  for (const auto& id : ids) {
    auto& vn = byId[id];
    if (!vn.type) continue;
    for (size_t i = 0; i < vn.upstream.size(); ++i)
      if (vn.upstream[i].empty())
        issue(id, "", "input '" + vn.type->inputs()[i].name + "' is not connected; add an edge to it");
  }

  // Kahn's algorithm in file order, so the run order is stable and readable.
  std::map<std::string, int> indegree;
  for (const auto& id : ids) indegree[id] = 0;
  for (const auto& [from, tos] : downstream)
    for (const auto& to : tos) indegree[to]++;
  std::deque<std::string> ready;
  for (const auto& id : ids)
    if (indegree[id] == 0) ready.push_back(id);
  std::vector<std::string> order;
  while (!ready.empty()) {
    std::string id = ready.front();
    ready.pop_front();
    order.push_back(id);
    for (const auto& id2 : ids) {
      if (downstream[id].count(id2) && --indegree[id2] == 0) ready.push_back(id2);
    }
  }
  if (order.size() != ids.size()) {
    std::string cyc;
    for (const auto& id : ids)
      if (indegree[id] > 0) cyc += (cyc.empty() ? "" : ", ") + id;
    issue("", "", "the edges form a cycle through: " + cyc + "; a flow must be a directed acyclic graph");
  }
  if (!v.issues.empty()) return v;

  // Schemas along the edges, in run order.
  for (const auto& id : order) {
    auto& vn = byId[id];
    std::vector<core::Schema> inputs;
    bool upstreamOk = true;
    for (const auto& up : vn.upstream) {
      const auto& from = byId[up.substr(0, up.find('.'))];
      upstreamOk = upstreamOk && from.type != nullptr;
      inputs.push_back(from.schema);
    }
    auto schema = vn.type->outputSchema(vn.params, inputs, ctx);
    if (!schema.ok()) {
      const std::string& msg = schema.error().message;
      // Node types report "param: message" so the parameter can be named separately.
      auto colon = msg.find(": ");
      std::string param;
      if (colon != std::string::npos) {
        std::string head = msg.substr(0, colon);
        for (const auto& p : vn.type->params())
          if (p.name == head) param = head;
      }
      issue(id, param, param.empty() ? msg : msg.substr(colon + 2));
      continue;
    }
    vn.schema = schema.value();
  }
  if (!v.issues.empty()) return v;
  for (const auto& id : order) v.order.push_back(byId[id]);
  return v;
}

}  // namespace loom::flow
