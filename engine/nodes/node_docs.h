#pragma once
// The node reference (docs/nodes.md), generated from the registered node types' documentation and
// parameter schemas, so the manual cannot drift from what the engine accepts.
// `loom-cli nodes --markdown` prints it; a test checks that docs/nodes.md is current.

#include <string>

#include "nodes/registry.h"

namespace loom::nodes {

std::string nodeReferenceMarkdown(const NodeRegistry& registry);

}  // namespace loom::nodes
