#include "catalog/catalog.h"
#include "flow/flow.h"
#include "flow/validate.h"
#include "nodes/registry.h"
#include "test_support.h"

using namespace loom;

namespace {

const char* kGood = R"({
  "format": "loom.flow/1", "name": "photos",
  "nodes": [
    {"id": "src", "type": "storage.list", "params": {"uri": "file:///data/photos", "glob": "**/*.jpg"}, "ui": {"x": 10, "y": 20}},
    {"id": "meta", "type": "media.probe", "params": {}},
    {"id": "big", "type": "table.filter", "params": {"where": "width >= 1024"}},
    {"id": "out", "type": "dataset.save", "params": {"name": "big_photos"}}
  ],
  "edges": [{"from": "src", "to": "meta"}, {"from": "meta", "to": "big"}, {"from": "big", "to": "out"}],
  "comment": "kept"
})";

flow::Validation validate(const std::string& text) {
  auto f = flow::parseFlow(text, "test.loomflow").orThrow();
  static flow::Flow keep;
  keep = f;
  return flow::validateFlow(keep, nodes::NodeRegistry::builtin(), {});
}

std::string withFilter(const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(kGood);
  j["nodes"][2]["params"]["where"] = where;
  return j.dump();
}

}  // namespace

TEST(FlowFile, ParsesTheArchitectureExample) {
  auto f = flow::parseFlow(kGood, "x").orThrow();
  EXPECT_EQ(f.name, "photos");
  ASSERT_EQ(f.nodes.size(), 4u);
  EXPECT_EQ(f.nodes[0].params["glob"], "**/*.jpg");
  ASSERT_EQ(f.edges.size(), 3u);
  EXPECT_EQ(f.edges[2].to.node, "out");
  auto v = flow::validateFlow(f, nodes::NodeRegistry::builtin(), {});
  EXPECT_TRUE(v.ok()) << v.message();
  ASSERT_EQ(v.order.size(), 4u);
  EXPECT_TRUE(v.order[2].schema.has("width"));
}

TEST(FlowFile, SaveKeepsUnknownKeysAndRoundTrips) {
  auto f = flow::parseFlow(kGood, "x").orThrow();
  std::string text = flow::serializeFlow(f);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["comment"], "kept");
  EXPECT_EQ(j["nodes"][0]["ui"]["x"], 10);
  auto again = flow::parseFlow(text, "x").orThrow();
  EXPECT_EQ(flow::serializeFlow(again), text);
}

TEST(FlowFile, UnknownFormatIsRefusedClearly) {
  auto r = flow::parseFlow(R"({"format": "loom.flow/9", "nodes": []})", "new.loomflow");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, core::ErrorKind::InvalidFlow);
  EXPECT_NE(r.error().message.find("unknown format \"loom.flow/9\""), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("new.loomflow"), std::string::npos);
}

TEST(FlowFile, BadJsonGivesLineAndColumn) {
  auto r = flow::parseFlow("{\n  \"format\": \"loom.flow/1\",\n  \"nodes\": [,]\n}", "f.loomflow");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("line 3"), std::string::npos) << r.error().message;
}

TEST(FlowValidation, UnknownTypeListsKnownTypes) {
  nlohmann::json j = nlohmann::json::parse(kGood);
  j["nodes"][1]["type"] = "media.prob";
  auto v = validate(j.dump());
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.issues[0].nodeId, "meta");
  EXPECT_NE(v.message().find("unknown node type 'media.prob'"), std::string::npos);
  EXPECT_NE(v.message().find("media.probe"), std::string::npos);
}

TEST(FlowValidation, ParameterErrorsNameNodeParamAndWhatIsAllowed) {
  nlohmann::json j = nlohmann::json::parse(kGood);
  j["nodes"][0]["params"]["globb"] = "*.png";
  j["nodes"][3]["params"].erase("name");
  auto v = validate(j.dump());
  ASSERT_FALSE(v.ok());
  std::string m = v.message();
  EXPECT_NE(m.find("node 'src', parameter 'globb': unknown parameter; allowed: uri, glob"), std::string::npos) << m;
  EXPECT_NE(m.find("node 'out', parameter 'name': is required"), std::string::npos) << m;
}

TEST(FlowValidation, WrongTypesAndRanges) {
  nlohmann::json j = nlohmann::json::parse(kGood);
  j["nodes"].push_back({{"id", "lim"}, {"type", "table.limit"}, {"params", {{"n", -5}}}});
  j["nodes"].push_back({{"id", "lim2"}, {"type", "table.limit"}, {"params", {{"n", "ten"}}}});
  j["edges"].push_back({{"from", "big"}, {"to", "lim"}});
  j["edges"].push_back({{"from", "big"}, {"to", "lim2"}});
  auto v = validate(j.dump());
  std::string m = v.message();
  EXPECT_NE(m.find("node 'lim', parameter 'n': must be at least 0"), std::string::npos) << m;
  EXPECT_NE(m.find("node 'lim2', parameter 'n': must be a whole number"), std::string::npos) << m;
}

TEST(FlowValidation, FilterOnMissingColumnIsCaughtBeforeRunning) {
  auto v = validate(withFilter("widht >= 1024"));
  ASSERT_FALSE(v.ok());
  ASSERT_EQ(v.issues.size(), 1u);
  EXPECT_EQ(v.issues[0].nodeId, "big");
  EXPECT_EQ(v.issues[0].param, "where");
  EXPECT_NE(v.issues[0].message.find("no such column: widht"), std::string::npos) << v.issues[0].message;
  EXPECT_NE(v.issues[0].message.find("width"), std::string::npos) << "lists the available columns";
}

TEST(FlowValidation, SqlFromAFlowFileCannotEscapeItsInput) {
  // A flow file is data: none of these may pass validation.
  for (const char* evil : {"1; DROP TABLE runs", "(SELECT count(*) FROM runs) > 0", "load_extension('/tmp/x.so')",
                           "1) FROM input; DELETE FROM datasets; --", "1 /*",
                           "(SELECT name FROM sqlite_master) IS NOT NULL"}) {
    auto v = validate(withFilter(evil));
    EXPECT_FALSE(v.ok()) << "accepted: " << evil;
  }
  auto ok = validate(withFilter("width > 1 -- a comment\n AND height > 1"));
  EXPECT_TRUE(ok.ok()) << ok.message();
}

TEST(FlowValidation, EdgesCyclesAndPorts) {
  nlohmann::json j = nlohmann::json::parse(kGood);
  j["edges"].push_back({{"from", "big"}, {"to", "meta"}});
  auto v = validate(j.dump());
  EXPECT_NE(v.message().find("connected twice"), std::string::npos) << v.message();

  nlohmann::json c = nlohmann::json::parse(kGood);
  c["nodes"].push_back({{"id", "f2"}, {"type", "table.filter"}, {"params", {{"where", "1"}}}});
  c["nodes"].push_back({{"id", "f3"}, {"type", "table.filter"}, {"params", {{"where", "1"}}}});
  c["edges"].push_back({{"from", "f2"}, {"to", "f3"}});
  c["edges"].push_back({{"from", "f3"}, {"to", "f2"}});
  auto cyc = validate(c.dump());
  EXPECT_NE(cyc.message().find("cycle through: f2, f3"), std::string::npos) << cyc.message();

  nlohmann::json u = nlohmann::json::parse(kGood);
  u["edges"].erase(1);
  auto un = validate(u.dump());
  EXPECT_NE(un.message().find("node 'big': input 'in' is not connected"), std::string::npos) << un.message();

  nlohmann::json p = nlohmann::json::parse(kGood);
  p["edges"][0]["to"] = "meta.images";
  auto port = validate(p.dump());
  EXPECT_NE(port.message().find("has no input port 'images' (inputs: in)"), std::string::npos) << port.message();
}

TEST(FlowValidation, ProbeNeedsUriColumn) {
  test::TempDir dir;
  auto cat = catalog::Catalog::open((dir / "c.db").string()).orThrow();
  auto f = flow::parseFlow(R"({"format":"loom.flow/1","nodes":[
    {"id":"a","type":"dataset.read","params":{"dataset":"missing"}}]})", "x").orThrow();
  nodes::ValidationContext ctx;
  ctx.catalog = cat.get();
  auto v = flow::validateFlow(f, nodes::NodeRegistry::builtin(), ctx);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("no dataset named 'missing'"), std::string::npos) << v.message();
}

TEST(FlowValidation, CommandLineOverridesAreTyped) {
  auto f = flow::parseFlow(kGood, "x").orThrow();
  f.nodes.push_back({"lim", "table.limit", {{"n", 1}}, nlohmann::json::object()});
  f.edges.push_back({{"big", ""}, {"lim", ""}});
  auto v = flow::validateFlow(f, nodes::NodeRegistry::builtin(), {}, {{"lim.n", "25"}, {"src.uri", "/tmp/x y"}});
  ASSERT_TRUE(v.ok()) << v.message();
  for (const auto& n : v.order) {
    if (n.node->id == "lim") {
      EXPECT_EQ(n.params["n"], 25);
    }
    if (n.node->id == "src") {
      EXPECT_EQ(n.params["uri"], "file:///tmp/x%20y");
    }
  }
  auto bad = flow::validateFlow(f, nodes::NodeRegistry::builtin(), {}, {{"nosuch.n", "1"}});
  EXPECT_FALSE(bad.ok());
}
