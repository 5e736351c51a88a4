#pragma once
// Flow validation: structure (ids, types, parameters, edges, cycles) and then the schema that flows
// along each edge, so a filter naming a missing column is caught before anything runs. Every issue
// names the node and the parameter and says what is allowed.

#include <map>
#include <string>
#include <vector>

#include "flow/flow.h"
#include "nodes/registry.h"

namespace loom::flow {

struct FlowIssue {
  std::string nodeId;  // empty: about the flow as a whole
  std::string param;   // empty: about the node as a whole
  std::string message;
  std::string str() const;
};

struct ValidatedNode {
  const Node* node = nullptr;
  const nodes::NodeType* type = nullptr;
  nodes::Params params;               // with defaults filled in
  std::vector<std::string> upstream;  // per input port: the node feeding it ("<node>.<port>" for its
                                      // second and later output ports)
  core::Schema schema;                // output schema
};

struct Validation {
  std::vector<FlowIssue> issues;
  std::vector<ValidatedNode> order;  // topological order; complete only when ok()
  bool ok() const { return issues.empty(); }
  std::string message() const;  // all issues, one per line
};

// `overrides` are "node.param" -> JSON value (from `--param`), applied before checking.
Validation validateFlow(const Flow& flow, const nodes::NodeRegistry& registry, const nodes::ValidationContext& ctx,
                        const std::map<std::string, nlohmann::json>& overrides = {});

}  // namespace loom::flow
