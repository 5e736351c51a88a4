#pragma once
// The built-in node library: sources, media, table and dataset nodes.

#include "nodes/registry.h"

namespace loom::nodes {

class BuiltinProvider : public NodeProvider {
 public:
  std::string id() const override { return "loom"; }
  void load(NodeRegistry& registry) const override;
};

// Factories, one per file, used by BuiltinProvider::load().
void addStorageNodes(NodeRegistry& registry);
void addUrlNodes(NodeRegistry& registry);  // storage.urls
void addMediaNodes(NodeRegistry& registry);
void addThumbnailNodes(NodeRegistry& registry);
void addTableNodes(NodeRegistry& registry);
void addDatasetNodes(NodeRegistry& registry);
void addLocalModelNodes(NodeRegistry& registry);
void addModelNodes(NodeRegistry& registry);  // model.llm, model.vision, model.embed
void addExportNodes(NodeRegistry& registry);  // export.table

}  // namespace loom::nodes
