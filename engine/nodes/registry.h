#pragma once
// The node registry: providers add immutable NodeType prototypes at load time; flows look them up
// by id. Filled once at start-up, then read-only (safe to share between threads).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nodes/node_type.h"

namespace loom::nodes {

class NodeRegistry;

class NodeProvider {
 public:
  virtual ~NodeProvider() = default;
  virtual std::string id() const = 0;
  virtual void load(NodeRegistry& registry) const = 0;
};

class NodeRegistry {
 public:
  void add(std::shared_ptr<const NodeType> type);
  void addProvider(const NodeProvider& provider) { provider.load(*this); }
  const NodeType* find(const std::string& id) const;
  std::vector<const NodeType*> all() const;
  // Registry with the built-in provider loaded.
  static const NodeRegistry& builtin();

 private:
  std::map<std::string, std::shared_ptr<const NodeType>> m_types;
};

}  // namespace loom::nodes
