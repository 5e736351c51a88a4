// quality.validate: rules per column split the rows between the node's two output ports, each failing
// row saying what it breaks; both ports saved as datasets through a real flow, run twice; rules that
// cannot work stop the flow before it runs, naming the parameter; loom_regexp stays linear on hostile
// patterns.

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <map>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "nodes/registry.h"
#include "nodes/sql_check.h"
#include "test_support.h"

using namespace loom;
using nlohmann::json;

namespace {

class QualityValidate : public ::testing::Test {
 protected:
  void SetUp() override {
    cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
    test::writeFile(dir / "data/big_one.png", test::pngBytes(800, 600));
    test::writeFile(dir / "data/big_two.png", test::pngBytes(1024, 1024));
    test::writeFile(dir / "data/narrow.png", test::pngBytes(300, 900));
    test::writeFile(dir / "data/Bad Name.png", test::pngBytes(640, 640));
    test::writeFile(dir / "data/notes.txt", "not an image\n");
    test::writeFile(dir / "data/cut.png", test::pngBytes(900, 900).substr(0, 13));  // truncated: probe fails
  }

  json flowJson(const json& validateParams) {
    return {{"format", "loom.flow/1"},
            {"name", "validate"},
            {"nodes",
             {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (dir / "data").string()}}}},
              {{"id", "meta"}, {"type", "media.probe"}, {"params", json::object()}},
              {{"id", "v"}, {"type", "quality.validate"}, {"params", validateParams}},
              {{"id", "good"}, {"type", "dataset.save"}, {"params", {{"name", "good"}}}},
              {{"id", "bad"}, {"type", "dataset.save"}, {"params", {{"name", "rejects"}}}}}},
            {"edges",
             {{{"from", "src"}, {"to", "meta"}},
              {{"from", "meta"}, {"to", "v"}},
              {{"from", "v"}, {"to", "good"}},
              {{"from", "v.failed"}, {"to", "bad"}}}}};
  }

  exec::RunResult run(const json& f) {
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    exec::RunOptions opts;
    return ex.run(flow::parseFlow(f.dump(), "t").orThrow(), opts, quiet);
  }

  // name -> violations (null: "")
  std::map<std::string, std::string> rows(const std::string& dataset) {
    std::map<std::string, std::string> out;
    auto v = cat->resolveDataset(dataset).orThrow();
    const size_t iName = static_cast<size_t>(v.schema.indexOf("name")) + 1;
    const size_t iViol = static_cast<size_t>(v.schema.indexOf("violations")) + 1;
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& row) {
      out[std::get<std::string>(row[iName])] =
          core::isNull(row[iViol]) ? "" : std::get<std::string>(row[iViol]);
    });
    return out;
  }

  std::string invalid(const json& params) {
    try {
      run(flowJson(params));
    } catch (const core::RunError& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "the flow ran with " << params.dump();
    return "";
  }

  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
};

TEST_F(QualityValidate, PassingRowsGoOutFailingRowsGoToFailedWithTheirViolations) {
  const json params = {{"rules",
                        {{"mime", {{"in", {"image/jpeg", "image/png"}}}},
                         {"name", {{"regex", "^[a-z0-9_]+\\.png$"}}},
                         {"height", {{"max", 1000}}}}},
                       {"min_width", 512}};
  auto r = run(flowJson(params));
  EXPECT_EQ(r.status, "succeeded");
  ASSERT_EQ(r.outputs.size(), 2u);

  auto good = rows("good");
  EXPECT_EQ(good.size(), 1u);
  EXPECT_TRUE(good.count("big_one.png"));
  for (const auto& [name, v] : good) EXPECT_EQ(v, "") << name << ": passing rows have no violations";

  auto bad = rows("rejects");
  ASSERT_EQ(bad.size(), 5u);
  EXPECT_EQ(bad["narrow.png"], "width 300 < 512") << "only the broken rule is named";
  EXPECT_EQ(bad["big_two.png"], "height 1024 > 1000");
  EXPECT_EQ(bad["Bad Name.png"], "name 'Bad Name.png' does not match ^[a-z0-9_]+\\.png$");
  // A text file breaks several rules at once; its missing width and height are "null", not passes.
  EXPECT_NE(bad["notes.txt"].find("mime 'text/plain' not in [image/jpeg, image/png]"), std::string::npos) << bad["notes.txt"];
  EXPECT_NE(bad["notes.txt"].find("width is null"), std::string::npos) << bad["notes.txt"];
  EXPECT_NE(bad["notes.txt"].find("height is null"), std::string::npos) << bad["notes.txt"];
  EXPECT_NE(bad["notes.txt"].find("; "), std::string::npos) << "violations are '; '-separated";
  // A row that failed upstream fails validation with that error, and nothing else.
  EXPECT_EQ(bad["cut.png"].rfind("error: ", 0), 0u) << bad["cut.png"];
  EXPECT_EQ(bad["cut.png"].find("width"), std::string::npos) << bad["cut.png"];

  // Both ports keep the input's columns and add `violations`.
  auto goodV = cat->resolveDataset("good").orThrow();
  auto badV = cat->resolveDataset("rejects").orThrow();
  EXPECT_EQ(goodV.schema, badV.schema);
  EXPECT_TRUE(goodV.schema.has("uri") && goodV.schema.has("width") && goodV.schema.has("violations"));

  // Run again: everything cached, the same versions reused.
  auto again = run(flowJson(params));
  for (const auto& n : again.nodes) EXPECT_EQ(n.status, "cached") << n.id;
  ASSERT_EQ(again.outputs.size(), 2u);
  for (const auto& o : again.outputs) {
    EXPECT_TRUE(o.reused) << o.dataset;
    EXPECT_EQ(o.version, 1) << o.dataset;
  }
  EXPECT_EQ(rows("good"), good);
  EXPECT_EQ(rows("rejects"), bad);

  // A changed rule re-runs the node: each port gets its new rows, as a new version.
  json looser = params;
  looser["min_width"] = 256;
  auto third = run(flowJson(looser));
  EXPECT_EQ(rows("good").size(), 2u);
  EXPECT_EQ(rows("rejects").size(), 4u);
  EXPECT_EQ(cat->resolveDataset("rejects").orThrow().version, 2);
}

TEST_F(QualityValidate, OptionalColumnsLetNullsPassAndNonNumbersBreakRanges) {
  auto r = run(flowJson({{"rules",
                          {{"width", {{"min", 100}, {"optional", true}}},
                           {"name", {{"in", {"notes.txt", "narrow.png", 7}}}},
                           {"mime", {{"min", 1}}}}}}));
  auto good = rows("good");
  auto bad = rows("rejects");
  EXPECT_EQ(good.size(), 0u);
  // notes.txt has no width: optional lets it pass that rule; its mime is text, not a number.
  EXPECT_EQ(bad["notes.txt"], "mime 'text/plain' is not a number");
  // Violations follow the columns' order in `rules` (alphabetical: JSON objects have no order).
  EXPECT_EQ(bad["big_one.png"], "mime 'image/png' is not a number; name 'big_one.png' not in [notes.txt, narrow.png, 7]");
}

TEST_F(QualityValidate, RulesThatCannotWorkStopTheFlowNamingTheParameter) {
  std::string e = invalid({{"rules", {{"label", {{"not_null", true}}}}}});
  EXPECT_NE(e.find("parameter 'rules': column 'label' is not in the input"), std::string::npos) << e;
  EXPECT_NE(e.find("columns: "), std::string::npos) << e;

  e = invalid({{"rules", {{"width", {{"minimum", 3}}}}}});
  EXPECT_NE(e.find("unknown rule 'minimum'"), std::string::npos) << e;
  e = invalid({{"rules", {{"name", {{"regex", "(a"}}}}}});
  EXPECT_NE(e.find("parameter 'rules': column 'name': invalid regular expression"), std::string::npos) << e;
  e = invalid({{"rules", {{"name", {{"regex", "(a)\\1"}}}}}});
  EXPECT_NE(e.find("invalid regular expression"), std::string::npos) << "back-references are refused: " << e;
  e = invalid({{"rules", {{"width", {{"min", "512"}}}}}});
  EXPECT_NE(e.find("'min' must be a number"), std::string::npos) << e;
  e = invalid({{"rules", {{"width", {{"min", 10}, {"max", 5}}}}}});
  EXPECT_NE(e.find("min 10 is above max 5"), std::string::npos) << e;
  e = invalid({{"rules", {{"mime", {{"in", json::array()}}}}}});
  EXPECT_NE(e.find("'in' must be a list"), std::string::npos) << e;
  e = invalid({{"rules", {{"mime", {{"in", {json::object()}}}}}}});
  EXPECT_NE(e.find("allowed values are strings or numbers"), std::string::npos) << e;
  e = invalid({{"rules", "not json"}});
  EXPECT_NE(e.find("parameter 'rules': is not valid JSON"), std::string::npos) << e;
  e = invalid({{"rules", json::array()}});
  EXPECT_NE(e.find("parameter 'rules': must be an object"), std::string::npos) << e;
  e = invalid(json::object());
  EXPECT_NE(e.find("no rules given"), std::string::npos) << e;
  e = invalid({{"min_width", "wide"}});
  EXPECT_NE(e.find("min_width"), std::string::npos) << e;

  // A shorthand on an input without its column names both.
  json f = flowJson({{"min_duration", 2.5}});
  f["nodes"][1] = {{"id", "meta"}, {"type", "table.filter"}, {"params", {{"where", "size > 0"}}}};
  try {
    run(f);
    ADD_FAILURE() << "ran";
  } catch (const core::RunError& err) {
    EXPECT_NE(std::string(err.what()).find("parameter 'min_duration': column 'duration' is not in the input"),
              std::string::npos)
        << err.what();
  }
}

TEST_F(QualityValidate, RulesFromTheCommandLineAreJsonText) {
  run(flowJson({{"rules", R"({"width": {"min": 1000}})"}}));
  EXPECT_EQ(rows("good").size(), 1u);
}

// loom_regexp is RE2: a pattern that makes backtracking engines take exponential time, on a long
// value, answers at once; NULL in gives NULL out; a bad pattern fails the statement with RE2's reason.
TEST(LoomRegexp, LinearOnHostilePatternsNullSafeAndCheckedPatterns) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  nodes::registerSqlFunctions(db);
  auto one = [&](const std::string& sql) -> std::string {
    sqlite3_stmt* s = nullptr;
    std::string out = "error";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK) {
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_ROW)
        out = sqlite3_column_type(s, 0) == SQLITE_NULL ? "null" : reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      else
        out = std::string("error: ") + sqlite3_errmsg(db);
    }
    sqlite3_finalize(s);
    return out;
  };
  EXPECT_EQ(one("SELECT loom_regexp('^a+b$', 'aaab')"), "1");
  EXPECT_EQ(one("SELECT loom_regexp('b', 'abc')"), "1") << "found anywhere unless anchored";
  EXPECT_EQ(one("SELECT loom_regexp('^b', 'abc')"), "0");
  EXPECT_EQ(one("SELECT loom_regexp('^[0-9]+$', 12345)"), "1") << "numbers match as their text";
  EXPECT_EQ(one("SELECT loom_regexp('a', NULL)"), "null");
  EXPECT_EQ(one("SELECT loom_regexp('(a+)+b', replace(hex(zeroblob(200000)), '0', 'a'))"), "0");
  EXPECT_EQ(one("SELECT loom_regexp('(a|aa)*c', replace(hex(zeroblob(200000)), '0', 'a'))"), "0");
  EXPECT_NE(one("SELECT loom_regexp('(a', 'a')").find("invalid regular expression"), std::string::npos);
  EXPECT_NE(one("SELECT loom_regexp(replace(hex(zeroblob(3000)), '0', 'a'), 'a')").find("at most 4096"), std::string::npos);
  sqlite3_close(db);
  EXPECT_TRUE(nodes::checkRegexp("^[a-z0-9_]+\\.jpg$").ok());
  EXPECT_FALSE(nodes::checkRegexp("(?<=a)b").ok()) << "look-behind is not RE2";
}

}  // namespace
