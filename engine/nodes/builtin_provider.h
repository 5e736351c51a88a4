#pragma once
// The built-in node library: sources, media, table, dataset, model, transform and export nodes.

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
void addImageNodes(NodeRegistry& registry);  // image.transform/phash/near_duplicates, quality.blur/exposure
void addAvNodes(NodeRegistry& registry);     // video.frames/clip/audio, audio.segment/resample
void addTextNodes(NodeRegistry& registry);   // text.read, pdf.text, text.chunk, text.regex
void addPiiNodes(NodeRegistry& registry);    // pii.detect, pii.redact
void addQualityNodes(NodeRegistry& registry);      // quality.validate
void addExportFileNodes(NodeRegistry& registry);   // export.files, export.webdataset

}  // namespace loom::nodes
