// docs/nodes.md is generated from the node types' schemas; this test fails when it is out of date,
// so the manual a person reads always matches what the engine accepts.

#include <fstream>
#include <sstream>

#include "nodes/node_docs.h"
#include "test_support.h"

using namespace loom;

TEST(NodeDocs, DocsNodesMdIsCurrent) {
  const std::string generated = nodes::nodeReferenceMarkdown(nodes::NodeRegistry::builtin());
  std::ifstream in(std::string(LOOM_SOURCE_DIR) + "/docs/nodes.md", std::ios::binary);
  ASSERT_TRUE(in.good()) << "docs/nodes.md is missing; make it with: ninja -C build update-node-docs";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_TRUE(ss.str() == generated)
      << "docs/nodes.md is out of date with the node schemas; regenerate it with: ninja -C build update-node-docs "
         "(or loom-cli nodes --markdown > docs/nodes.md)";
}

TEST(NodeDocs, EveryNodeAndParameterIsDocumented) {
  const auto& reg = nodes::NodeRegistry::builtin();
  const std::string md = nodes::nodeReferenceMarkdown(reg);
  EXPECT_GE(reg.all().size(), 40u);
  for (const auto* t : reg.all()) {
    EXPECT_GE(t->doc().size(), 60u) << t->id() << ": its documentation is too short to tell a person what it does";
    EXPECT_FALSE(t->title().empty()) << t->id();
    EXPECT_NE(md.find("\n### " + t->id() + "\n"), std::string::npos) << t->id();
    for (const auto& p : t->params()) {
      EXPECT_FALSE(p.doc.empty()) << t->id() << "." << p.name << " has no description";
      EXPECT_NE(md.find("| `" + p.name + "` |"), std::string::npos) << t->id() << "." << p.name;
    }
  }
}
