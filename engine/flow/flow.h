#pragma once
// The `.loomflow` document: nodes, parameters and edges (format "loom.flow/1", see ARCHITECTURE.md).
// Loading never runs anything; unknown keys are kept so that saving preserves them.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace loom::flow {

constexpr const char* kFormat = "loom.flow/1";

struct Endpoint {
  std::string node;
  std::string port;  // empty: the node's only port
  std::string str() const { return port.empty() ? node : node + "." + port; }
};

struct Edge {
  Endpoint from, to;
};

struct Node {
  std::string id;
  std::string type;
  nlohmann::json params = nlohmann::json::object();
  nlohmann::json extra = nlohmann::json::object();  // "ui" and keys this version does not know
};

struct Flow {
  std::string name;
  std::vector<Node> nodes;
  std::vector<Edge> edges;
  nlohmann::json extra = nlohmann::json::object();
  const Node* node(const std::string& id) const;
  Node* node(const std::string& id);
};

// Parses flow JSON. `origin` names the input in messages (a path, or "<stdin>").
core::Result<Flow> parseFlow(const std::string& text, const std::string& origin);
core::Result<Flow> loadFlow(const std::string& path);
nlohmann::json flowToJson(const Flow& flow);
std::string serializeFlow(const Flow& flow);  // pretty-printed, stable key order
core::Result<void> saveFlow(const Flow& flow, const std::string& path);  // atomic replace

bool isValidNodeId(const std::string& id);
Endpoint parseEndpoint(const std::string& text);

}  // namespace loom::flow
