#include "nodes/registry.h"

#include <cassert>

namespace loom::nodes {

void NodeRegistry::add(std::shared_ptr<const NodeType> type) {
  assert(type && !m_types.count(type->id()) && "node ids are unique");
  std::string id = type->id();
  m_types.emplace(std::move(id), std::move(type));
}

const NodeType* NodeRegistry::find(const std::string& id) const {
  auto it = m_types.find(id);
  return it == m_types.end() ? nullptr : it->second.get();
}

std::vector<const NodeType*> NodeRegistry::all() const {
  std::vector<const NodeType*> out;
  for (const auto& [id, t] : m_types) out.push_back(t.get());
  return out;
}

}  // namespace loom::nodes
