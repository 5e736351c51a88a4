// export.table and where flows may write (storage/write_locations.h): inside the flow's folder and
// LOOM_EXPORT_ROOTS only, with `..` and symbolic links resolved before the check; the file appears
// whole; a dry run writes nothing.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "nodes/registry.h"
#include "storage/write_locations.h"
#include "test_support.h"

using namespace loom;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using loom::test::readFile;

TEST(WriteLocations, OnlyInsideTheFlowsFolderAndTheAllowedRootsAfterResolvingLinks) {
  unsetenv("LOOM_EXPORT_ROOTS");
  test::TempDir dir;
  const fs::path flows = dir.path() / "flows", outside = dir.path() / "outside";
  fs::create_directories(flows / "out");
  fs::create_directories(outside);
  fs::create_directory_symlink(outside, flows / "escape");      // a link out of the allowed folder
  fs::create_directory_symlink(flows / "out", flows / "here");  // a link that stays inside
  const auto roots = storage::exportRoots(flows.string());

  auto ok = storage::checkExportTarget((flows / "out" / "a.jsonl").string(), roots);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok.value(), "file://" + (flows / "out" / "a.jsonl").string());
  auto viaLink = storage::checkExportTarget((flows / "here" / "a.jsonl").string(), roots);
  ASSERT_TRUE(viaLink.ok()) << viaLink.error().message;
  EXPECT_EQ(viaLink.value(), "file://" + (flows / "out" / "a.jsonl").string()) << "written where the link leads";
  EXPECT_TRUE(storage::checkExportTarget((flows / "new" / "deeper" / "a.csv").string(), roots).ok());

  for (const fs::path& bad : {flows / ".." / "outside" / "a.jsonl", flows / "out" / ".." / ".." / "a.jsonl",
                             flows / "escape" / "a.jsonl", fs::path("/etc/cron.d/loom.csv"), dir.path() / "flowsx" / "a.csv"}) {
    auto r = storage::checkExportTarget(bad.string(), roots);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, core::ErrorKind::PermissionDenied) << bad;
    EXPECT_NE(r.error().message.find("LOOM_EXPORT_ROOTS"), std::string::npos) << r.error().message;
  }
  auto link = storage::checkExportTarget((flows / "escape" / "a.jsonl").string(), roots);
  EXPECT_NE(link.error().message.find("leads to " + (outside / "a.jsonl").string()), std::string::npos) << link.error().message;
  // A link at the file itself counts too.
  fs::create_symlink(outside / "victim.csv", flows / "out" / "innocent.csv");
  EXPECT_FALSE(storage::checkExportTarget((flows / "out" / "innocent.csv").string(), roots).ok());
  EXPECT_FALSE(storage::checkExportTarget((flows / "out").string(), roots).ok()) << "a folder is not a file";
  EXPECT_FALSE(storage::checkExportTarget("relative/a.csv", roots).ok());

  // The person allows more: a folder (through a link is fine) and a bucket prefix.
  setenv("LOOM_EXPORT_ROOTS", (outside.string() + ", s3://bucket/exports").c_str(), 1);
  const auto more = storage::exportRoots(flows.string());
  EXPECT_TRUE(storage::checkExportTarget((flows / "escape" / "a.jsonl").string(), more).ok());
  EXPECT_TRUE(storage::checkExportTarget("s3://bucket/exports/2026/a.jsonl", more).ok());
  EXPECT_FALSE(storage::checkExportTarget("s3://bucket/exportsx/a.jsonl", more).ok());
  EXPECT_FALSE(storage::checkExportTarget("s3://bucket/other/a.jsonl", more).ok());
  EXPECT_FALSE(storage::checkExportTarget("s3://bucket/exports/../secret/a.jsonl", more).ok());
  EXPECT_FALSE(storage::checkExportTarget("az://container/a.jsonl", more).ok());
  unsetenv("LOOM_EXPORT_ROOTS");
  EXPECT_FALSE(storage::checkExportTarget((outside / "a.jsonl").string(), storage::exportRoots(flows.string())).ok());
}

class ExportTable : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("LOOM_EXPORT_ROOTS");
    test::writeFile(dir.path() / "data" / "a.txt", "alpha");
    test::writeFile(dir.path() / "data" / "b, \"quoted\".txt", "bravo!");
    test::writeFile(dir.path() / "data" / "c.txt", "");
    cat = catalog::Catalog::open((dir.path() / "catalog.db").string()).orThrow();
  }
  exec::RunResult run(const std::string& uri, const std::string& format = "auto", bool dryRun = false) {
    json f = {{"format", "loom.flow/1"},
              {"name", "export"},
              {"nodes",
               {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", "data"}}}},
                {{"id", "big"}, {"type", "table.filter"}, {"params", {{"where", "size > 0"}}}},
                {{"id", "x"}, {"type", "export.table"}, {"params", {{"uri", uri}, {"format", format}}}}}},
              {"edges", {{{"from", "src"}, {"to", "big"}}, {{"from", "big"}, {"to", "x"}}}}};
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    exec::RunOptions opts;
    opts.flowPath = (dir.path() / "export.loomflow").string();
    opts.dryRun = dryRun;
    return ex.run(flow::parseFlow(f.dump(), opts.flowPath).orThrow(), opts, quiet);
  }
  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
};

TEST_F(ExportTable, WritesJsonlAndCsvBesideTheFlowWholeAndAgainEachRun) {
  run("out/files.jsonl");
  const std::string jsonl = readFile(dir.path() / "out" / "files.jsonl");
  std::istringstream lines(jsonl);
  std::vector<json> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 2u) << jsonl;
  EXPECT_EQ(rows[0]["name"], "a.txt");
  EXPECT_EQ(rows[0]["size"], 5);
  EXPECT_EQ(rows[1]["name"], "b, \"quoted\".txt");
  EXPECT_TRUE(rows[1].contains("error")) << "the error column is kept";

  run("out/files.csv");
  const std::string csv = readFile(dir.path() / "out" / "files.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')).find("uri,name,"), 0u) << csv;
  EXPECT_NE(csv.find("\"b, \"\"quoted\"\".txt\""), std::string::npos) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);

  // A sink runs every time: a deleted export comes back; nothing half-written is left beside it.
  fs::remove(dir.path() / "out" / "files.jsonl");
  run("out/files.jsonl");
  EXPECT_EQ(readFile(dir.path() / "out" / "files.jsonl"), jsonl);
  for (const auto& e : fs::directory_iterator(dir.path() / "out")) {
    EXPECT_EQ(e.path().string().find(".part"), std::string::npos) << e.path();
  }
}

TEST_F(ExportTable, ADryRunWritesNothingAndAnUnknownFormatIsAskedFor) {
  run("out/dry.jsonl", "auto", true);
  EXPECT_FALSE(fs::exists(dir.path() / "out" / "dry.jsonl"));
  try {
    run("out/files.txt");
    FAIL() << "ran";
  } catch (const core::RunError& e) {
    EXPECT_NE(std::string(e.what()).find("set format to jsonl or csv"), std::string::npos) << e.what();
  }
  run("out/files.txt", "csv");
  EXPECT_TRUE(fs::exists(dir.path() / "out" / "files.txt"));
}

TEST_F(ExportTable, AFlowCannotWriteOutsideTheAllowedLocations) {
  test::TempDir elsewhere;  // not inside the flow's folder
  fs::create_directory_symlink(elsewhere.path(), dir.path() / "link");
  for (const std::string uri : {"../escaped.jsonl", "link/escaped.jsonl", "/tmp/loom-export-escape.jsonl",
                                "file:///etc/loom-escape.csv"}) {
    SCOPED_TRACE(uri);
    try {
      run(uri);
      ADD_FAILURE() << "ran";
    } catch (const core::RunError& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow);
      EXPECT_NE(std::string(e.what()).find("outside the locations allowed for exports"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(dir.path().parent_path() / "escaped.jsonl"));
  EXPECT_FALSE(fs::exists(elsewhere.path() / "escaped.jsonl"));
  EXPECT_FALSE(fs::exists("/tmp/loom-export-escape.jsonl"));
  // Allowed by the person: the same link now works.
  setenv("LOOM_EXPORT_ROOTS", elsewhere.path().c_str(), 1);
  run("link/escaped.jsonl");
  unsetenv("LOOM_EXPORT_ROOTS");
  EXPECT_TRUE(fs::exists(elsewhere.path() / "escaped.jsonl"));
}

}  // namespace
