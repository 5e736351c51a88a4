// The structured nodes of the transform library (table.join, group, union, dedup, split, explode),
// run as flows on files listed from a generated folder, checked the way a person would read the
// resulting datasets; plus the executor's support for nodes with several inputs (lineage) and
// several output ports.

#include <map>
#include <set>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "lineage/lineage.h"
#include "nodes/registry.h"
#include "test_support.h"

using namespace loom;

namespace {

using Row = std::map<std::string, core::Value>;

std::string text(const core::Value& v) {
  if (std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  if (std::holds_alternative<int64_t>(v)) return std::to_string(std::get<int64_t>(v));
  if (std::holds_alternative<double>(v)) return std::to_string(std::get<double>(v));
  return "NULL";
}

class TableNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
    // 12 cats, 6 dogs, 2 owls; file i of a class holds 10 + i bytes. Labels file: one line per class.
    auto put = [&](const std::string& label, int n) {
      for (int i = 0; i < n; ++i)
        test::writeFile(dir / ("data/" + label + "_" + std::to_string(i) + ".txt"), std::string(10 + i, 'x'));
    };
    put("cat", 12);
    put("dog", 6);
    put("owl", 2);
    // A second folder whose files share names with some of the first (for union and join).
    for (int i = 0; i < 3; ++i) test::writeFile(dir / ("more/cat_" + std::to_string(i) + ".txt"), "y");
    test::writeFile(dir / "more/bat_0.txt", "zz");
  }

  // storage.list of `folder` with a `label` column derived from the file name.
  nlohmann::json listing(const std::string& id, const std::string& folder) {
    return nlohmann::json::array(
        {{{"id", id}, {"type", "storage.list"}, {"params", {{"uri", (dir / folder).string()}}}},
         {{"id", id + "_l"},
          {"type", "table.derive"},
          {"params", {{"columns", {{"label", "substr(name, 1, instr(name, '_') - 1)"}}}}}}});
  }

  // A flow: the listing(s), then `nodes`, then dataset.save "out" of the last node.
  exec::RunResult run(nlohmann::json nodes, nlohmann::json edges, const std::string& save = "out") {
    nlohmann::json j = {{"format", "loom.flow/1"}, {"name", "t"}, {"nodes", nodes}, {"edges", edges}};
    flow::Flow f = flow::parseFlow(j.dump(), "t").orThrow();
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    exec::RunOptions opts;
    core::Feedback quiet;
    (void)save;
    return ex.run(f, opts, quiet);
  }

  // One node `type` after the listing of data/, saved as "out".
  exec::RunResult runOne(const std::string& type, const nlohmann::json& params) {
    auto nodes = listing("src", "data");
    nodes.push_back({{"id", "n"}, {"type", type}, {"params", params}});
    nodes.push_back({{"id", "o"}, {"type", "dataset.save"}, {"params", {{"name", "out"}}}});
    nlohmann::json edges = {{{"from", "src"}, {"to", "src_l"}}, {{"from", "src_l"}, {"to", "n"}}, {{"from", "n"}, {"to", "o"}}};
    return run(nodes, edges);
  }

  std::vector<Row> rows(const std::string& spec) {
    auto v = cat->resolveDataset(spec).orThrow();
    std::vector<Row> out;
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& r) {
      Row row;
      for (size_t i = 0; i < v.schema.size(); ++i) row[v.schema[i].name] = r[i + 1];
      out.push_back(std::move(row));
    });
    return out;
  }

  std::string invalid(const std::string& type, const nlohmann::json& params) {
    try {
      runOne(type, params);
    } catch (const core::RunError& e) {
      return e.what();
    }
    return "(ran)";
  }

  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
};

TEST_F(TableNodesTest, GroupCountsAndSumsPerLabelInFirstSeenOrder) {
  auto r = runOne("table.group", {{"by", {"label"}},
                                  {"aggregates", {{"files", "count(*)"}, {"bytes", "sum(size)"}, {"largest", "max(size)"}}}});
  ASSERT_EQ(r.outputs.size(), 1u);
  auto out = rows("out");
  ASSERT_EQ(out.size(), 3u);
  std::map<std::string, std::tuple<int64_t, int64_t, int64_t>> got;
  for (auto& row : out)
    got[text(row["label"])] = {std::get<int64_t>(row["files"]), std::get<int64_t>(row["bytes"]),
                               std::get<int64_t>(row["largest"])};
  // cats: 10..21 bytes, dogs 10..15, owls 10..11.
  EXPECT_EQ(got["cat"], std::make_tuple(int64_t{12}, int64_t{186}, int64_t{21}));
  EXPECT_EQ(got["dog"], std::make_tuple(int64_t{6}, int64_t{75}, int64_t{15}));
  EXPECT_EQ(got["owl"], std::make_tuple(int64_t{2}, int64_t{21}, int64_t{11}));
  // Only the grouping column and the aggregates.
  EXPECT_EQ(out[0].size(), 4u);

  auto whole = runOne("table.group", {{"aggregates", {{"n", "count(*)"}}}});
  EXPECT_EQ(std::get<int64_t>(rows("out@2")[0]["n"]), 20);
}

TEST_F(TableNodesTest, JoinInnerAndLeftOnSharedAndDifferentlyNamedKeys) {
  // Left: every file of data/ with its label; right: per-label counts from a group of the same listing.
  auto nodes = listing("src", "data");
  nodes.push_back({{"id", "g"}, {"type", "table.group"},
                   {"params", {{"by", {"label"}}, {"aggregates", {{"class_files", "count(*)"}, {"size", "max(size)"}}}}}});
  nodes.push_back({{"id", "f"}, {"type", "table.filter"}, {"params", {{"where", "label <> 'owl'"}}}});
  nodes.push_back({{"id", "j"}, {"type", "table.join"}, {"params", {{"on", {"label"}}, {"how", "inner"}}}});
  nodes.push_back({{"id", "o"}, {"type", "dataset.save"}, {"params", {{"name", "joined"}}}});
  nlohmann::json edges = {{{"from", "src"}, {"to", "src_l"}},
                          {{"from", "src_l"}, {"to", "g"}},
                          {{"from", "g"}, {"to", "f"}},
                          {{"from", "src_l"}, {"to", "j.left"}},
                          {{"from", "f"}, {"to", "j.right"}},
                          {{"from", "j"}, {"to", "o"}}};
  auto r = run(nodes, edges);
  auto out = rows("joined");
  ASSERT_EQ(out.size(), 18u);  // owls had no match
  for (auto& row : out) {
    EXPECT_EQ(std::get<int64_t>(row["class_files"]), text(row["label"]) == "cat" ? 12 : 6);
    // The right's "size" clashes with the left's: it arrives as size_right, the left's size is intact.
    EXPECT_EQ(std::get<int64_t>(row["size_right"]), text(row["label"]) == "cat" ? 21 : 15);
    EXPECT_LE(std::get<int64_t>(row["size"]), std::get<int64_t>(row["size_right"]));
  }
  // Lineage of a joined row follows the left input back to its file.
  auto l = lineage::rowLineage(*cat, "joined", 1).orThrow();
  EXPECT_NE(l.sourceUri.find("/data/"), std::string::npos) << l.sourceUri;

  nodes[4]["params"] = {{"left_on", {"label"}}, {"right_on", {"label"}}, {"how", "left"}};
  run(nodes, edges);
  auto left = rows("joined");
  ASSERT_EQ(left.size(), 20u);
  int unmatched = 0;
  for (auto& row : left)
    if (core::isNull(row["class_files"])) {
      ++unmatched;
      EXPECT_EQ(text(row["label"]), "owl");
    }
  EXPECT_EQ(unmatched, 2);
}

TEST_F(TableNodesTest, JoinRefusesMissingKeysBeforeRunning) {
  auto nodes = listing("src", "data");
  nodes.push_back({{"id", "j"}, {"type", "table.join"}, {"params", {{"on", {"labl"}}}}});
  nodes.push_back({{"id", "o"}, {"type", "dataset.save"}, {"params", {{"name", "x"}}}});
  nlohmann::json edges = {{{"from", "src"}, {"to", "src_l"}}, {{"from", "src_l"}, {"to", "j.left"}},
                          {{"from", "src"}, {"to", "j.right"}}, {{"from", "j"}, {"to", "o"}}};
  try {
    run(nodes, edges);
    FAIL() << "ran";
  } catch (const core::RunError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("node 'j', parameter 'on': no column 'labl' in the left input"), std::string::npos) << m;
  }
  nodes[2]["params"] = nlohmann::json::object();
  try {
    run(nodes, edges);
    FAIL() << "ran";
  } catch (const core::RunError& e) {
    EXPECT_NE(std::string(e.what()).find("either as on"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cat->versions("x").size(), 0u);
}

TEST_F(TableNodesTest, UnionStacksByNameAndLineageReachesEachSide) {
  auto nodes = listing("a", "data");
  auto more = listing("b", "more");
  nodes.insert(nodes.end(), more.begin(), more.end());
  nodes.push_back({{"id", "u"}, {"type", "table.union"}, {"params", {{"source_column", "from_input"}}}});
  nodes.push_back({{"id", "o"}, {"type", "dataset.save"}, {"params", {{"name", "both"}}}});
  nlohmann::json edges = {{{"from", "a"}, {"to", "a_l"}}, {{"from", "b"}, {"to", "b_l"}},
                          {{"from", "a_l"}, {"to", "u.a"}}, {{"from", "b_l"}, {"to", "u.b"}},
                          {{"from", "u"}, {"to", "o"}}};
  run(nodes, edges);
  auto out = rows("both");
  ASSERT_EQ(out.size(), 24u);
  EXPECT_EQ(text(out[0]["from_input"]), "a");
  EXPECT_EQ(text(out[23]["from_input"]), "b");
  // Row 21 is the first of b's: its lineage must end at the listing of more/, not of data/.
  auto l = lineage::rowLineage(*cat, "both", 21).orThrow();
  EXPECT_NE(l.sourceUri.find("/more/"), std::string::npos) << l.sourceUri;
  auto l1 = lineage::rowLineage(*cat, "both", 1).orThrow();
  EXPECT_NE(l1.sourceUri.find("/data/"), std::string::npos) << l1.sourceUri;
  EXPECT_EQ(l.steps.back().label, "b (storage.list)");

  // distinct over the label column alone: cat, dog, owl from a; bat from b (b's cats are repeats).
  nodes[4] = {{"id", "u"}, {"type", "table.union"}, {"params", {{"distinct", true}}}};
  nodes.insert(nodes.end() - 1, nlohmann::json{{"id", "lab"}, {"type", "table.group"},
                                               {"params", {{"by", {"label"}}, {"aggregates", {{"k", "1"}}}}}});
  nodes.insert(nodes.end() - 1, nlohmann::json{{"id", "lab2"}, {"type", "table.group"},
                                               {"params", {{"by", {"label"}}, {"aggregates", {{"k", "1"}}}}}});
  edges = {{{"from", "a"}, {"to", "a_l"}}, {{"from", "b"}, {"to", "b_l"}}, {{"from", "a_l"}, {"to", "lab"}},
           {{"from", "b_l"}, {"to", "lab2"}}, {{"from", "lab"}, {"to", "u.a"}}, {{"from", "lab2"}, {"to", "u.b"}},
           {{"from", "u"}, {"to", "o"}}};
  run(nodes, edges);
  std::vector<std::string> labels;
  for (auto& row : rows("both")) labels.push_back(text(row["label"]));
  EXPECT_EQ(labels, (std::vector<std::string>{"cat", "dog", "owl", "bat"}));
}

TEST_F(TableNodesTest, DedupKeepsFirstOrLastAndCounts) {
  runOne("table.dedup", {{"by", {"label"}}, {"count_column", "copies"}});
  auto first = rows("out");
  ASSERT_EQ(first.size(), 3u);
  std::map<std::string, std::pair<std::string, int64_t>> got;
  for (auto& row : first) got[text(row["label"])] = {text(row["name"]), std::get<int64_t>(row["copies"])};
  // storage.list lists in name order: cat_0, cat_1, cat_10, cat_11, cat_2 … so first/last follow that.
  EXPECT_EQ(got["cat"], std::make_pair(std::string("cat_0.txt"), int64_t{12}));
  EXPECT_EQ(got["owl"], std::make_pair(std::string("owl_0.txt"), int64_t{2}));
  runOne("table.dedup", {{"by", {"label"}}, {"keep", "last"}});
  std::set<std::string> last;
  for (auto& row : rows("out")) last.insert(text(row["name"]));
  EXPECT_EQ(last, (std::set<std::string>{"cat_9.txt", "dog_5.txt", "owl_1.txt"}));
  // All columns: every file differs, nothing dropped.
  runOne("table.dedup", nlohmann::json::object());
  EXPECT_EQ(rows("out").size(), 20u);
  EXPECT_NE(invalid("table.dedup", {{"by", {"nope"}}}).find("parameter 'by': no column 'nope'"), std::string::npos);
}

TEST_F(TableNodesTest, SplitIsDeterministicStableAndStratified) {
  runOne("table.split", {{"fractions", {{"train", 0.5}, {"test", 0.5}}}, {"seed", 3}});
  std::map<std::string, std::string> first;
  for (auto& row : rows("out")) first[text(row["name"])] = text(row["split"]);
  ASSERT_EQ(first.size(), 20u);
  std::set<std::string> parts;
  for (auto& [n, p] : first) parts.insert(p);
  EXPECT_EQ(parts, (std::set<std::string>{"train", "test"}));

  // Adding files moves no existing row to another part.
  for (int i = 0; i < 30; ++i) test::writeFile(dir / ("data/emu_" + std::to_string(i) + ".txt"), "e");
  runOne("table.split", {{"fractions", {{"train", 0.5}, {"test", 0.5}}}, {"seed", 3}});
  int moved = 0;
  for (auto& row : rows("out"))
    if (first.count(text(row["name"])) && first[text(row["name"])] != text(row["split"])) ++moved;
  EXPECT_EQ(moved, 0);

  // Stratified 50/25/25 over 12 cats, 6 dogs, 2 owls, 30 emus: exact shares per class (to the row).
  runOne("table.split", {{"fractions", {{"train", 0.5}, {"val", 0.25}, {"test", 0.25}}}, {"stratify", "label"}});
  std::map<std::string, std::map<std::string, int>> counts;
  for (auto& row : rows("out")) counts[text(row["label"])][text(row["split"])]++;
  EXPECT_EQ(counts["cat"]["train"], 6);
  EXPECT_EQ(counts["cat"]["val"], 3);
  EXPECT_EQ(counts["cat"]["test"], 3);
  EXPECT_EQ(counts["dog"]["train"], 3);
  EXPECT_EQ(counts["owl"]["train"], 1);
  EXPECT_EQ(counts["emu"]["train"], 15);
  EXPECT_GE(counts["emu"]["val"], 7);
  EXPECT_GE(counts["emu"]["test"], 7);

  EXPECT_NE(invalid("table.split", {{"fractions", {{"train", 0.8}, {"test", 0.1}}}}).find("add up to 0.9"),
            std::string::npos);
  EXPECT_NE(invalid("table.split", {{"stratify", "class"}}).find("parameter 'stratify': no column 'class'"),
            std::string::npos);
}

TEST_F(TableNodesTest, ExplodeGivesOneRowPerItemAndFlagsNonLists) {
  // A JSON list per file: cats get ["a","b"], dogs [], owls a string that is not a list.
  auto nodes = listing("src", "data");
  nodes.push_back({{"id", "tags"}, {"type", "table.derive"},
                   {"params", {{"columns", {{"tags", "CASE label WHEN 'cat' THEN json_array('a', json_object('k', size)) "
                                                     "WHEN 'dog' THEN '[]' ELSE 'not a list' END"}}}}}});
  nodes.push_back({{"id", "x"}, {"type", "table.explode"}, {"params", {{"column", "tags"}, {"index_column", "tag_index"}}}});
  nodes.push_back({{"id", "o"}, {"type", "dataset.save"}, {"params", {{"name", "ex"}}}});
  nlohmann::json edges = {{{"from", "src"}, {"to", "src_l"}}, {{"from", "src_l"}, {"to", "tags"}},
                          {{"from", "tags"}, {"to", "x"}}, {{"from", "x"}, {"to", "o"}}};
  auto r = run(nodes, edges);
  auto out = rows("ex");
  ASSERT_EQ(out.size(), 26u);  // 12 cats × 2 items + 2 owls flagged; dogs' empty lists dropped
  EXPECT_EQ(text(out[0]["tags"]), "a");
  EXPECT_EQ(std::get<int64_t>(out[0]["tag_index"]), 0);
  EXPECT_EQ(text(out[1]["tags"]), "{\"k\":10}");
  EXPECT_EQ(std::get<int64_t>(out[1]["tag_index"]), 1);
  int flagged = 0;
  for (auto& row : out)
    if (!core::isNull(row["error"])) {
      ++flagged;
      EXPECT_EQ(text(row["label"]), "owl");
      EXPECT_EQ(text(row["error"]), "column 'tags' does not hold a JSON array");
    }
  EXPECT_EQ(flagged, 2);
  EXPECT_EQ(r.rowsFailed, 2);
  // Each item's lineage reaches its file.
  auto l = lineage::rowLineage(*cat, "ex", 2).orThrow();
  EXPECT_NE(l.sourceUri.find("cat_0.txt"), std::string::npos) << l.sourceUri;

  nodes[3]["params"]["keep_empty"] = true;
  run(nodes, edges);
  EXPECT_EQ(rows("ex").size(), 32u);
}

}  // namespace
