#include <atomic>
#include <set>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "exec/indexer.h"
#include "flow/flow.h"
#include "lineage/lineage.h"
#include "nodes/registry.h"
#include "test_support.h"

using namespace loom;

namespace {

// Cancels the run once a node has reported `after` rows of progress (simulates a kill mid-run:
// committed batches stay, the rest is redone by the next run).
class CancelAfter : public core::Feedback {
 public:
  CancelAfter(std::string stage, int64_t after) : m_stage(std::move(stage)), m_after(after) {}
  void progress(const std::string& stage, int64_t done, int64_t) override {
    if (stage == m_stage && done >= m_after) cancel();
  }

 private:
  std::string m_stage;
  int64_t m_after;
};

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
    // 30 images of growing width, 5 text files and 2 corrupt "images".
    for (int i = 0; i < 30; ++i)
      test::writeFile(dir / ("data/img/p" + std::to_string(100 + i) + ".png"), test::pngBytes(100 * (i + 1), 50));
    for (int i = 0; i < 5; ++i)
      test::writeFile(dir / ("data/txt/t" + std::to_string(i) + ".txt"), "hello world " + std::to_string(i) + "\n");
    test::writeFile(dir / "data/img/broken1.png", std::string("\x89PNG\r\n\x1a\n\x00\x00", 10));
    test::writeFile(dir / "data/img/broken2.png", test::pngBytes(10, 10).substr(0, 20));
  }

  std::string flowText(const std::string& where = "width >= 1000", const std::string& name = "wide") {
    nlohmann::json j = {
        {"format", "loom.flow/1"},
        {"name", "test"},
        {"nodes",
         {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (dir / "data").string()}}}},
          {{"id", "meta"}, {"type", "media.probe"}, {"params", nlohmann::json::object()}},
          {{"id", "big"}, {"type", "table.filter"}, {"params", {{"where", where}}}},
          {{"id", "d"}, {"type", "table.derive"}, {"params", {{"columns", {{"area", "width * height"}}}}}},
          {{"id", "s"}, {"type", "table.sort"}, {"params", {{"by", "width DESC"}}}},
          {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", name}}}}}},
        {"edges",
         {{{"from", "src"}, {"to", "meta"}},
          {{"from", "meta"}, {"to", "big"}},
          {{"from", "big"}, {"to", "d"}},
          {{"from", "d"}, {"to", "s"}},
          {{"from", "s"}, {"to", "out"}}}}};
    return j.dump();
  }

  exec::RunResult run(const std::string& text, core::Feedback* fb = nullptr, int64_t batch = 256) {
    flow::Flow f = flow::parseFlow(text, "t").orThrow();
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    exec::RunOptions opts;
    opts.batchRows = batch;
    core::Feedback quiet;
    return ex.run(f, opts, fb ? *fb : quiet);
  }

  std::string status(const exec::RunResult& r, const std::string& node) {
    for (const auto& n : r.nodes)
      if (n.id == node) return n.status;
    return "?";
  }

  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
};

}  // namespace

TEST_F(ExecutorTest, RunsFlowIntoVersionedDataset) {
  auto r = run(flowText());
  EXPECT_EQ(r.status, "succeeded");
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].dataset, "wide");
  EXPECT_EQ(r.outputs[0].version, 1);
  EXPECT_EQ(r.outputs[0].rows, 21);  // widths 1000..3000
  EXPECT_EQ(r.rowsFailed, 2);        // the two corrupt PNGs, even though the filter dropped them

  auto v = cat->resolveDataset("wide").orThrow();
  EXPECT_EQ(v.schema.indexOf("area") >= 0, true);
  EXPECT_EQ(v.schema[static_cast<size_t>(v.schema.indexOf("area"))].type, core::ColumnType::Integer);
  std::vector<int64_t> widths;
  cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& row) {
    widths.push_back(std::get<int64_t>(row[static_cast<size_t>(v.schema.indexOf("width")) + 1]));
  });
  ASSERT_EQ(widths.size(), 21u);
  EXPECT_EQ(widths.front(), 3000);
  EXPECT_EQ(widths.back(), 1000);
  EXPECT_TRUE(std::is_sorted(widths.rbegin(), widths.rend()));
}

TEST_F(ExecutorTest, CorruptFilesFailTheirRowNotTheRun) {
  nlohmann::json j = nlohmann::json::parse(flowText());
  j["nodes"][2]["params"]["where"] = "error IS NOT NULL";
  auto r = run(j.dump());
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].rows, 2);
  auto v = cat->resolveDataset("wide").orThrow();
  EXPECT_EQ(v.rowsFailed, 2);
  cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& row) {
    auto err = std::get<std::string>(row[static_cast<size_t>(v.schema.indexOf("error")) + 1]);
    EXPECT_NE(err.find("PNG"), std::string::npos) << err;
  });
}

TEST_F(ExecutorTest, UnchangedFlowRecomputesNothingAndMakesNoNewVersion) {
  run(flowText());
  auto again = run(flowText());
  for (const auto& n : again.nodes) EXPECT_EQ(n.status, "cached") << n.id;
  ASSERT_EQ(again.outputs.size(), 1u);
  EXPECT_EQ(again.outputs[0].version, 1);
  EXPECT_TRUE(again.outputs[0].reused);
  EXPECT_EQ(cat->versions("wide").size(), 1u);
}

TEST_F(ExecutorTest, ChangedNodeRerunsOnlyItselfAndDownstream) {
  run(flowText());
  auto r = run(flowText("width >= 2000"));
  EXPECT_EQ(status(r, "src"), "cached");
  EXPECT_EQ(status(r, "meta"), "cached");
  EXPECT_EQ(status(r, "big"), "done");
  EXPECT_EQ(status(r, "d"), "done");
  EXPECT_EQ(status(r, "out"), "done");
  EXPECT_EQ(r.outputs[0].version, 2);
  EXPECT_EQ(r.outputs[0].rows, 11);
  // The old version is still there, unchanged.
  EXPECT_EQ(cat->resolveDataset("wide@1").orThrow().rowCount, 21);
}

TEST_F(ExecutorTest, NewFileIsProbedOnceAndOthersComeFromTheObjectCache) {
  run(flowText());
  test::writeFile(dir / "data/img/new.png", test::pngBytes(5000, 10));
  auto r = run(flowText());
  EXPECT_EQ(status(r, "src"), "done");
  EXPECT_EQ(status(r, "meta"), "done");
  EXPECT_EQ(r.outputs[0].rows, 22);
  auto s = cat->db().prepare("SELECT count(*) FROM objects WHERE width=5000");
  s.step();
  EXPECT_EQ(s.int64(0), 1);
}

TEST_F(ExecutorTest, InterruptedRunResumesWithEveryRowExactlyOnce) {
  CancelAfter fb("meta", 10);
  EXPECT_THROW(run(flowText(), &fb, 4), core::RunError);
  {
    auto interrupted = cat->db().prepare("SELECT status FROM runs ORDER BY id DESC LIMIT 1");
    interrupted.step();
    EXPECT_EQ(interrupted.text(0), "cancelled");
    // Some probe batches were committed before the cancel, but not all of them.
    auto partial = cat->db().prepare("SELECT status, table_name FROM node_outputs WHERE node_type='media.probe'");
    ASSERT_TRUE(partial.step());
    EXPECT_EQ(partial.text(0), "partial");
    auto rows = cat->db().prepare("SELECT count(*) FROM " + partial.text(1));
    rows.step();
    EXPECT_GE(rows.int64(0), 10);
    EXPECT_LT(rows.int64(0), 37);
  }

  auto r = run(flowText(), nullptr, 4);
  EXPECT_EQ(status(r, "meta"), "resumed");
  auto probe = cat->db().prepare(
      "SELECT table_name FROM node_outputs WHERE node_type='media.probe' AND status='complete'");
  ASSERT_TRUE(probe.step());
  std::string table = probe.text(0);
  auto counts = cat->db().prepare("SELECT count(*), count(DISTINCT _src), count(DISTINCT uri) FROM " + table);
  counts.step();
  EXPECT_EQ(counts.int64(0), 37);
  EXPECT_EQ(counts.int64(1), 37);
  EXPECT_EQ(counts.int64(2), 37);
  EXPECT_EQ(r.outputs[0].rows, 21);
}

TEST_F(ExecutorTest, InvalidFlowThrowsWithEveryIssueAndRecordsNoRun) {
  try {
    run(flowText("widht > 1", "bad name!"));
    FAIL() << "expected an invalid flow";
  } catch (const core::RunError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow);
    std::string m = e.what();
    EXPECT_NE(m.find("node 'big', parameter 'where'"), std::string::npos) << m;
  }
  auto s = cat->db().prepare("SELECT count(*) FROM runs");
  s.step();
  EXPECT_EQ(s.int64(0), 0);
}

TEST_F(ExecutorTest, RowLineageReachesTheSourceObject) {
  run(flowText());
  auto l = lineage::rowLineage(*cat, "wide", 1).orThrow();
  EXPECT_EQ(l.sourceUri.substr(l.sourceUri.size() - 9), "/p129.png");  // widest image: 3000 px
  EXPECT_FALSE(l.sourceEtag.empty());
  std::vector<std::string> labels;
  for (const auto& s : l.steps) labels.push_back(s.label);
  ASSERT_EQ(labels.size(), 6u);
  EXPECT_EQ(labels[0], "wide@1");
  EXPECT_EQ(labels[1], "s (table.sort)");
  EXPECT_EQ(labels.back(), "src (storage.list)");

  auto d = lineage::datasetLineage(*cat, "wide").orThrow();
  ASSERT_TRUE(d.run.has_value());
  EXPECT_EQ(d.nodes.size(), 6u);
  ASSERT_EQ(d.inputs.size(), 1u);
  EXPECT_EQ(d.inputs[0].first, "source");
}

TEST_F(ExecutorTest, DatasetReadChainsLineageAcrossDatasets) {
  run(flowText());
  auto second = R"({"format":"loom.flow/1","name":"second","nodes":[
     {"id":"r","type":"dataset.read","params":{"dataset":"wide@1"}},
     {"id":"top","type":"table.limit","params":{"n":3}},
     {"id":"o","type":"dataset.save","params":{"name":"top3"}}],
     "edges":[{"from":"r","to":"top"},{"from":"top","to":"o"}]})";
  auto r = run(second);
  EXPECT_EQ(r.outputs[0].rows, 3);
  auto l = lineage::rowLineage(*cat, "top3", 3).orThrow();
  EXPECT_NE(l.sourceUri.find("p127.png"), std::string::npos) << l.sourceUri;
  auto up = lineage::datasetLineage(*cat, "wide@1").orThrow();
  ASSERT_EQ(up.downstream.size(), 1u);
  EXPECT_EQ(up.downstream[0].produced, std::vector<std::string>{"top3@1"});
}

TEST_F(ExecutorTest, SampleIsDeterministicAndSized) {
  auto sampleFlow = [&](const std::string& params) {
    return std::string(R"({"format":"loom.flow/1","name":"s","nodes":[
     {"id":"src","type":"storage.list","params":{"uri":")") + (dir / "data").string() + R"("}},
     {"id":"smp","type":"table.sample","params":)" + params + R"(},
     {"id":"o","type":"dataset.save","params":{"name":"smp"}}],
     "edges":[{"from":"src","to":"smp"},{"from":"smp","to":"o"}]})";
  };
  auto a = run(sampleFlow(R"({"n": 10, "seed": 7})"));
  EXPECT_EQ(a.outputs[0].rows, 10);
  auto rowsOf = [&](const std::string& spec) {
    std::set<std::string> uris;
    auto v = cat->resolveDataset(spec).orThrow();
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& r) { uris.insert(std::get<std::string>(r[1])); });
    return uris;
  };
  auto first = rowsOf("smp@1");
  auto b = run(sampleFlow(R"({"n": 10, "seed": 8})"));
  EXPECT_NE(rowsOf("smp@2"), first);
  run(sampleFlow(R"({"n": 10, "seed": 7})"));
  EXPECT_EQ(rowsOf("smp"), first);
  auto f = run(sampleFlow(R"({"fraction": 0.5, "seed": 1})"));
  EXPECT_GT(f.outputs[0].rows, 8);
  EXPECT_LT(f.outputs[0].rows, 29);
}

TEST_F(ExecutorTest, IndexProbesOnlyNewOrChangedObjects) {
  core::Feedback fb;
  exec::IndexOptions o;
  o.uri = (dir / "data").string();
  auto first = exec::indexSource(*cat, o, fb).orThrow();
  EXPECT_EQ(first.objects, 37);
  EXPECT_EQ(first.added, 37);
  EXPECT_EQ(first.probed, 37);
  EXPECT_EQ(first.errors, 2);
  auto second = exec::indexSource(*cat, o, fb).orThrow();
  EXPECT_EQ(second.unchanged, 37);
  EXPECT_EQ(second.probed, 0);
  std::filesystem::remove(dir / "data/txt/t0.txt");
  test::writeFile(dir / "data/txt/t1.txt", "changed content, longer than before\n");
  auto third = exec::indexSource(*cat, o, fb).orThrow();
  EXPECT_EQ(third.objects, 36);
  EXPECT_EQ(third.changed, 1);
  EXPECT_EQ(third.probed, 1);
  EXPECT_EQ(third.missing, 1);
  auto s = cat->db().prepare("SELECT mime, width FROM objects WHERE name='p105.png'");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "image/png");
  EXPECT_EQ(s.int64(1), 600);
}
