#include "nodes/builtin_provider.h"

namespace loom::nodes {

void BuiltinProvider::load(NodeRegistry& registry) const {
  addStorageNodes(registry);
  addUrlNodes(registry);
  addMediaNodes(registry);
  addThumbnailNodes(registry);
  addTableNodes(registry);
  addDatasetNodes(registry);
  addLocalModelNodes(registry);
  addModelNodes(registry);
  addExportNodes(registry);
  addImageNodes(registry);
  addAvNodes(registry);
  addTextNodes(registry);
  addPiiNodes(registry);
  addQualityNodes(registry);
  addExportFileNodes(registry);
}

const NodeRegistry& NodeRegistry::builtin() {
  static const NodeRegistry registry = [] {
    NodeRegistry r;
    r.addProvider(BuiltinProvider());
    return r;
  }();
  return registry;
}

}  // namespace loom::nodes
