// export.files and export.webdataset through real flows: files and blobs copied under names from a
// pattern, the manifest, collisions, a re-run that rewrites nothing, failed rows counted and not
// aborting, destinations outside the allowed locations refused; tar shards read back by Python's
// tarfile and GNU tar, grouped into samples, within their limits, byte-identical on a second run; and
// a copy to an S3 bucket.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "catalog/blob_store.h"
#include "catalog/catalog.h"
#include "core/hash.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "nodes/registry.h"
#include "s3_server.h"
#include "storage/s3_storage.h"
#include "storage/uri.h"
#include "test_support.h"

using namespace loom;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using loom::test::readFile;

std::vector<json> jsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) out.push_back(json::parse(line));
  return out;
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string shell(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = p ? pclose(p) : -1;
  if (status) *status = rc;
  return out;
}

class ExportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("LOOM_EXPORT_ROOTS");
    test::writeFile(dir / "data/a/cat.jpg", "cat bytes");
    test::writeFile(dir / "data/a/same.txt", "same name, first");
    test::writeFile(dir / "data/b/dog.jpg", std::string(5000, 'd'));
    test::writeFile(dir / "data/b/same.txt", "same name, second");
    cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  }

  // storage.list over data/, then the sink with `params`.
  json listFlow(const std::string& type, const json& params) {
    return {{"format", "loom.flow/1"},
            {"name", "export"},
            {"nodes",
             {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", "data"}}}},
              {{"id", "x"}, {"type", type}, {"params", params}}}},
            {"edges", {{{"from", "src"}, {"to", "x"}}}}};
  }

  exec::RunResult run(const json& f, core::Feedback* fb = nullptr, bool dryRun = false) {
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    exec::RunOptions opts;
    opts.flowPath = (dir / "export.loomflow").string();
    opts.dryRun = dryRun;
    return ex.run(flow::parseFlow(f.dump(), opts.flowPath).orThrow(), opts, fb ? *fb : quiet);
  }

  std::string refused(const json& f) {
    try {
      run(f);
    } catch (const core::RunError& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "ran: " << f.dump();
    return "";
  }

  // Puts `bytes` in the catalog's blob store (as media.thumbnail does) and returns the hash.
  std::string blob(const std::string& bytes, const std::string& mime) {
    auto store = catalog::BlobStore::forCatalog(*cat);
    std::string hash = store.put(bytes).orThrow();
    catalog::BlobStore::record(cat->db(), hash, static_cast<int64_t>(bytes.size()), mime);
    return hash;
  }

  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
};

class Warnings : public core::Feedback {
 public:
  void warning(const std::string& m) override { text += m + "\n"; }
  std::string text;
};

TEST_F(ExportFiles, CopiesObjectsWithAManifestAndResolvesCollisionsInRowOrder) {
  Warnings fb;
  run(listFlow("export.files", {{"to", "out"}, {"manifest_columns", {"size", "name"}}}), &fb);
  EXPECT_EQ(fb.text, "") << "nothing failed";
  const fs::path out = dir / "out";
  EXPECT_EQ(readFile(out / "cat.jpg"), "cat bytes");
  EXPECT_EQ(readFile(out / "dog.jpg"), std::string(5000, 'd'));
  // Two rows named same.txt: the second (in row order) gets a suffix.
  EXPECT_EQ(readFile(out / "same.txt"), "same name, first");
  EXPECT_EQ(readFile(out / "same-1.txt"), "same name, second");

  auto lines = jsonLines(readFile(out / "manifest.jsonl"));
  ASSERT_EQ(lines.size(), 4u);
  const json& first = lines[0];
  EXPECT_EQ(first["row"], 1);
  EXPECT_EQ(first["source"], storage::fileUriFromPath((dir / "data/a/cat.jpg").string()));
  EXPECT_TRUE(first["etag"].is_string() && !first["etag"].get<std::string>().empty());
  EXPECT_EQ(first["path"], "cat.jpg");
  EXPECT_EQ(first["destination"], storage::fileUriFromPath((out / "cat.jpg").string()));
  EXPECT_EQ(first["bytes"], 9);
  EXPECT_EQ(first["sha256"], core::sha256Hex("cat bytes"));
  EXPECT_EQ(first["status"], "copied");
  EXPECT_EQ(first["columns"], (json{{"size", 9}, {"name", "cat.jpg"}}));
  EXPECT_EQ(lines[3]["path"], "same-1.txt");
  for (const auto& e : fs::recursive_directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".part"), std::string::npos) << "left behind: " << e.path();

  // on_collision fail: the later row fails, the run goes on.
  run(listFlow("export.files", {{"to", "strict"}, {"on_collision", "fail"}}), &fb);
  auto strict = jsonLines(readFile(dir / "strict" / "manifest.jsonl"));
  ASSERT_EQ(strict.size(), 4u);
  EXPECT_EQ(strict[3]["status"], "failed");
  EXPECT_NE(strict[3]["error"].get<std::string>().find("already taken by row 2"), std::string::npos) << strict[3];
  EXPECT_FALSE(fs::exists(dir / "strict" / "same-1.txt"));
  EXPECT_NE(fb.text.find("1 of 4 rows failed"), std::string::npos) << fb.text;

  // Patterns: the layout under the shared folder, the row number, a column.
  run(listFlow("export.files", {{"to", "tree"}, {"naming", "{relpath}"}, {"manifest", ""}}));
  EXPECT_EQ(readFile(dir / "tree/a/same.txt"), "same name, first");
  EXPECT_EQ(readFile(dir / "tree/b/same.txt"), "same name, second");
  EXPECT_FALSE(fs::exists(dir / "tree" / "manifest.jsonl"));
  run(listFlow("export.files", {{"to", "numbered"}, {"naming", "{_row}_{stem}{ext}"}}));
  EXPECT_TRUE(fs::exists(dir / "numbered/1_cat.jpg"));
  EXPECT_TRUE(fs::exists(dir / "numbered/4_same.txt"));
}

TEST_F(ExportFiles, ARerunRewritesNothingUnchangedAndCopiesWhatChanged) {
  const json f = listFlow("export.files", {{"to", "out"}});
  run(f);
  const fs::path out = dir / "out";
  // Backdate what was written: a file rewritten would get a new time.
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(24);
  for (const char* n : {"cat.jpg", "dog.jpg", "same.txt", "same-1.txt"}) fs::last_write_time(out / n, old);
  run(f);
  for (const auto& line : jsonLines(readFile(out / "manifest.jsonl"))) EXPECT_EQ(line["status"], "unchanged") << line;
  for (const char* n : {"cat.jpg", "dog.jpg", "same.txt", "same-1.txt"})
    EXPECT_EQ(fs::last_write_time(out / n), old) << n << " was rewritten";

  // Same size, other bytes; and a damaged copy at the destination: both copied again.
  test::writeFile(dir / "data/a/cat.jpg", "CAT BYTES");
  test::writeFile(out / "dog.jpg", std::string(5000, 'x'));
  run(f);
  auto lines = jsonLines(readFile(out / "manifest.jsonl"));
  EXPECT_EQ(lines[0]["status"], "copied");
  EXPECT_EQ(lines[1]["status"], "unchanged");
  EXPECT_EQ(lines[2]["status"], "copied");
  EXPECT_EQ(lines[3]["status"], "unchanged");
  EXPECT_EQ(readFile(out / "cat.jpg"), "CAT BYTES");
  EXPECT_EQ(readFile(out / "dog.jpg"), std::string(5000, 'd'));

  // A dry run writes nothing.
  run(listFlow("export.files", {{"to", "dry"}}), nullptr, true);
  EXPECT_FALSE(fs::exists(dir / "dry"));
}

TEST_F(ExportFiles, MissingSourcesAndUpstreamErrorsAreCountedFailedRowsNotAborts) {
  test::writeFile(dir / "data/c/cut.png", test::pngBytes(10, 10).substr(0, 13));
  // Save the probed listing as a dataset, then lose a file before exporting from the dataset.
  json save = {{"format", "loom.flow/1"},
               {"name", "save"},
               {"nodes",
                {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", "data"}, {"glob", "**/*.{txt,png}"}}}},
                 {{"id", "meta"}, {"type", "media.probe"}, {"params", json::object()}},
                 {{"id", "s"}, {"type", "dataset.save"}, {"params", {{"name", "files"}}}}}},
               {"edges", {{{"from", "src"}, {"to", "meta"}}, {{"from", "meta"}, {"to", "s"}}}}};
  run(save);
  fs::remove(dir / "data/b/same.txt");
  json f = {{"format", "loom.flow/1"},
            {"name", "export"},
            {"nodes",
             {{{"id", "r"}, {"type", "dataset.read"}, {"params", {{"dataset", "files"}}}},
              {{"id", "x"}, {"type", "export.files"}, {"params", {{"to", "out"}, {"naming", "{relpath}"}}}}}},
            {"edges", {{{"from", "r"}, {"to", "x"}}}}};
  Warnings fb;
  auto r = run(f, &fb);
  EXPECT_EQ(r.status, "succeeded");
  auto lines = jsonLines(readFile(dir / "out" / "manifest.jsonl"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["path"], "a/same.txt");
  EXPECT_EQ(lines[0]["status"], "copied");
  EXPECT_EQ(lines[1]["source"], storage::fileUriFromPath((dir / "data/b/same.txt").string()));
  EXPECT_EQ(lines[1]["status"], "failed");
  EXPECT_FALSE(lines[1]["error"].get<std::string>().empty());
  EXPECT_FALSE(lines[1].contains("sha256"));
  EXPECT_EQ(lines[2]["status"], "failed");
  EXPECT_EQ(lines[2]["error"].get<std::string>().rfind("failed upstream: ", 0), 0u) << lines[2];
  EXPECT_FALSE(fs::exists(dir / "out/c/cut.png")) << "a row that failed upstream is not copied";
  EXPECT_NE(fb.text.find("2 of 3 rows failed"), std::string::npos) << fb.text;
}

TEST_F(ExportFiles, CopiesBlobsNamedByTheirTypeBesideOrInsteadOfObjects) {
  const std::string thumb = blob("\xFF\xD8\xFFthumbnail", "image/jpeg");
  const std::string mask = blob("\x89PNGmask", "image/png");
  json f = listFlow("export.files", {{"to", "out"}, {"blob_columns", {"thumb", "mask"}}, {"manifest_columns", {"label"}}});
  f["nodes"].push_back({{"id", "d"},
                        {"type", "table.derive"},
                        {"params",
                         {{"columns",
                           {{"thumb", "CASE WHEN name = 'cat.jpg' THEN '" + thumb + "' END"},
                            {"mask", "CASE WHEN name = 'cat.jpg' THEN '" + mask + "' WHEN name = 'dog.jpg' THEN 'not-a-hash' END"},
                            {"label", "upper(name)"}}}}}});
  f["edges"] = {{{"from", "src"}, {"to", "d"}}, {{"from", "d"}, {"to", "x"}}};
  run(f);
  EXPECT_EQ(readFile(dir / "out/cat.thumb.jpg"), "\xFF\xD8\xFFthumbnail");
  EXPECT_EQ(readFile(dir / "out/cat.mask.png"), "\x89PNGmask");
  auto lines = jsonLines(readFile(dir / "out/manifest.jsonl"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["blobs"]["thumb"]["sha256"], thumb);
  EXPECT_EQ(lines[0]["blobs"]["thumb"]["path"], "cat.thumb.jpg");
  EXPECT_EQ(lines[0]["blobs"]["mask"]["bytes"], 8);
  EXPECT_EQ(lines[0]["columns"]["label"], "CAT.JPG");
  EXPECT_EQ(lines[1]["status"], "copied") << "a row without blobs copies its object";
  EXPECT_FALSE(lines[1].contains("blobs"));
  EXPECT_EQ(lines[2]["status"], "failed");
  EXPECT_NE(lines[2]["error"].get<std::string>().find("not a blob sha256"), std::string::npos) << lines[2];

  // Blobs only, named by a column; a blob lost from the store fails its row.
  fs::remove(catalog::BlobStore::forCatalog(*cat).pathOf(mask));
  f["nodes"][1]["params"] = {{"to", "blobs"}, {"objects", false}, {"blob_columns", {"thumb", "mask"}},
                             {"blob_naming", "{label}_{column}{ext}"}};
  run(f);
  EXPECT_EQ(readFile(dir / "blobs/CAT.JPG_thumb.jpg"), "\xFF\xD8\xFFthumbnail");
  auto blobsOnly = jsonLines(readFile(dir / "blobs/manifest.jsonl"));
  EXPECT_EQ(blobsOnly[0]["status"], "failed");
  EXPECT_NE(blobsOnly[0]["error"].get<std::string>().find("mask: "), std::string::npos) << blobsOnly[0];
  EXPECT_EQ(blobsOnly[1]["status"], "empty") << "a row without blobs has nothing to copy";
  EXPECT_EQ(blobsOnly[2]["status"], "failed");
}

TEST_F(ExportFiles, RefusesDestinationsOutsideTheAllowedLocationsAndBadParameters) {
  test::TempDir elsewhere;
  fs::create_directory_symlink(elsewhere.path(), dir / "link");
  for (const std::string to : {"../escaped", "link/inside", "/tmp/loom-export-files-escape", "s3://bucket/x"}) {
    std::string e = refused(listFlow("export.files", {{"to", to}}));
    EXPECT_NE(e.find("parameter 'to'"), std::string::npos) << e;
    EXPECT_NE(e.find("outside the locations allowed for exports"), std::string::npos) << e;
    e = refused(listFlow("export.webdataset", {{"to", to}}));
    EXPECT_NE(e.find("outside the locations allowed for exports"), std::string::npos) << e;
  }
  EXPECT_TRUE(fs::is_empty(elsewhere.path()));
  EXPECT_FALSE(fs::exists("/tmp/loom-export-files-escape"));
  // A link inside the destination that leads out: that file fails, the others are written.
  fs::create_directories(dir / "out");
  fs::create_directory_symlink(elsewhere.path(), dir / "out" / "a");
  run(listFlow("export.files", {{"to", "out"}, {"naming", "{relpath}"}}));
  EXPECT_TRUE(fs::is_empty(elsewhere.path()));
  auto lines = jsonLines(readFile(dir / "out/manifest.jsonl"));
  ASSERT_EQ(lines.size(), 4u);
  for (int i : {0, 1}) {
    EXPECT_EQ(lines[i]["status"], "failed") << "a/ leads out";
    EXPECT_NE(lines[i]["error"].get<std::string>().find("outside"), std::string::npos) << lines[i];
  }
  EXPECT_EQ(lines[2]["status"], "copied");
  EXPECT_EQ(readFile(dir / "out/b/dog.jpg"), std::string(5000, 'd'));

  std::string e = refused(listFlow("export.files", {{"to", "out"}, {"naming", "{nope}"}}));
  EXPECT_NE(e.find("parameter 'naming': unknown placeholder {nope}"), std::string::npos) << e;
  e = refused(listFlow("export.files", {{"to", "out"}, {"blob_columns", {"thumbnail"}}}));
  EXPECT_NE(e.find("parameter 'blob_columns': column 'thumbnail' is not in the input"), std::string::npos) << e;
  e = refused(listFlow("export.files", {{"to", "out"}, {"manifest_columns", {"label"}}}));
  EXPECT_NE(e.find("parameter 'manifest_columns': column 'label'"), std::string::npos) << e;
  e = refused(listFlow("export.files", {{"to", "out"}, {"objects", false}}));
  EXPECT_NE(e.find("copies nothing"), std::string::npos) << e;
  e = refused(listFlow("export.webdataset", {{"to", "out"}, {"json_columns", {"label"}}}));
  EXPECT_NE(e.find("parameter 'json_columns': column 'label'"), std::string::npos) << e;
  e = refused(listFlow("export.webdataset", {{"to", "out"}, {"prefix", "a.b"}}));
  EXPECT_NE(e.find("parameter 'prefix'"), std::string::npos) << e;
  e = refused(listFlow("export.webdataset", {{"to", "out"}, {"max_shard_bytes", 100}}));
  EXPECT_NE(e.find("max_shard_bytes"), std::string::npos) << e;
}

// Reads shards back with Python's tarfile: per shard, its members (name, size, mode, uid, gid, mtime,
// regular file?, content in hex), as JSON.
json readShards(const fs::path& folder) {
  const std::string script =
      "import json, sys, tarfile, glob\n"
      "out = {}\n"
      "for p in sorted(glob.glob(sys.argv[1] + '/*.tar')):\n"
      "    with tarfile.open(p) as t:\n"
      "        out[p.rsplit('/', 1)[1]] = [[m.name, m.size, m.mode, m.uid, m.gid, m.mtime, m.isreg(),"
      " t.extractfile(m).read().hex()] for m in t.getmembers()]\n"
      "print(json.dumps(out))\n";
  test::writeFile(folder.parent_path() / "read_shards.py", script);
  return json::parse(shell("python3 " + (folder.parent_path() / "read_shards.py").string() + " " + folder.string()));
}

TEST_F(ExportFiles, WebDatasetShardsGroupSamplesStayWithinLimitsAndAreByteIdenticalAgain) {
  const std::string thumb = blob("\xFF\xD8\xFFthumb", "image/jpeg");
  test::writeFile(dir / "data/c/bird.jpg", "bird bytes");
  test::writeFile(dir / "data/c/eel.jpg", "eel bytes");
  json f = listFlow("export.webdataset", {{"to", "shards"},
                                          {"max_shard_samples", 3},
                                          {"blob_columns", {"thumb"}},
                                          {"json_columns", {"name", "size"}},
                                          {"text_column", "caption"}});
  f["nodes"].push_back({{"id", "d"},
                        {"type", "table.derive"},
                        {"params",
                         {{"columns",
                           {{"thumb", "CASE WHEN name = 'cat.jpg' THEN '" + thumb + "' END"},
                            {"caption", "'a photo of ' || name"}}}}}});
  f["nodes"][0]["params"]["glob"] = "**/*.jpg";
  f["edges"] = {{{"from", "src"}, {"to", "d"}}, {{"from", "d"}, {"to", "x"}}};
  run(f);
  json shards = readShards(dir / "shards");
  ASSERT_EQ(shards.size(), 2u) << shards.dump();
  ASSERT_TRUE(shards.contains("shard-000000.tar") && shards.contains("shard-000001.tar")) << shards.dump();
  std::map<std::string, std::map<std::string, std::string>> samples;  // key -> field -> content
  std::map<std::string, std::set<std::string>> keysPerShard;
  for (const auto& [shard, members] : shards.items()) {
    for (const auto& m : members) {
      const std::string name = m[0];
      EXPECT_EQ(m[2], 0644) << name;
      EXPECT_EQ(m[3], 0) << name;
      EXPECT_EQ(m[4], 0) << name;
      EXPECT_EQ(m[5], 0) << name;
      EXPECT_TRUE(m[6].get<bool>()) << name;
      const std::string key = name.substr(0, name.find('.'));
      samples[key][name.substr(name.find('.') + 1)] = m[7];
      keysPerShard[shard].insert(key);
    }
  }
  EXPECT_EQ(keysPerShard["shard-000000.tar"], (std::set<std::string>{"000000001", "000000002", "000000003"}));
  EXPECT_EQ(keysPerShard["shard-000001.tar"], (std::set<std::string>{"000000004"}));
  ASSERT_EQ(samples.size(), 4u);
  const auto& first = samples["000000001"];
  EXPECT_EQ(first.at("jpg"), hex("cat bytes"));
  EXPECT_EQ(first.at("thumb.jpg"), hex("\xFF\xD8\xFFthumb"));
  EXPECT_EQ(first.at("json"), hex(R"({"name":"cat.jpg","size":9})"));
  EXPECT_EQ(first.at("txt"), hex("a photo of cat.jpg"));
  EXPECT_EQ(samples["000000002"].at("jpg"), hex(std::string(5000, 'd')));
  EXPECT_EQ(samples["000000002"].at("txt"), hex("a photo of dog.jpg"));
  EXPECT_FALSE(samples["000000002"].count("thumb.jpg")) << "no blob, no file";
  // GNU tar reads them too.
  int status = 0;
  const std::string listing = shell("tar -tvf " + (dir / "shards/shard-000000.tar").string() + " 2>&1", &status);
  EXPECT_EQ(status, 0) << listing;
  EXPECT_NE(listing.find("000000001.thumb.jpg"), std::string::npos) << listing;

  // Byte-identical again; an unchanged shard is left as it was.
  const std::string before = readFile(dir / "shards/shard-000000.tar");
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(1);
  fs::last_write_time(dir / "shards/shard-000000.tar", old);
  run(f);
  EXPECT_EQ(readFile(dir / "shards/shard-000000.tar"), before);
  EXPECT_EQ(fs::last_write_time(dir / "shards/shard-000000.tar"), old);

  // A byte limit: every shard within it; a sample too big for any shard is left out with a warning;
  // shards from the earlier, longer run are removed.
  test::writeFile(dir / "data/b/dog.jpg", std::string(30000, 'd'));
  test::writeFile(dir / "data/d/cat.jpg", "another cat");
  Warnings fb;
  f["nodes"][1]["params"]["max_shard_bytes"] = 20480;
  f["nodes"][1]["params"]["max_shard_samples"] = 100;
  f["nodes"][1]["params"]["key"] = "{stem}";
  f["nodes"][1]["params"]["prefix"] = "shard";
  run(f, &fb);
  EXPECT_NE(fb.text.find("1 rows left out"), std::string::npos) << fb.text;
  EXPECT_NE(fb.text.find("over max_shard_bytes"), std::string::npos) << fb.text;
  shards = readShards(dir / "shards");
  std::set<std::string> keys;
  for (const auto& [shard, members] : shards.items()) {
    EXPECT_LE(fs::file_size(dir / "shards" / shard), 20480u) << shard;
    for (const auto& m : members) keys.insert(m[0].get<std::string>().substr(0, m[0].get<std::string>().find('.')));
  }
  EXPECT_EQ(keys, (std::set<std::string>{"cat", "bird", "eel", "cat_1"})) << "keys are unique; the big dog is out";
  EXPECT_TRUE(fs::exists(dir / "shards/shard-000000.tar"));
  EXPECT_FALSE(fs::exists(dir / "shards/shard-000001.tar")) << "the earlier run's second shard is removed";
}

TEST_F(ExportFiles, CopiesToAnS3BucketAndSkipsUnchangedObjectsOnARerun) {
  std::unique_ptr<test::S3Server> server;
  try {
    server = std::make_unique<test::S3Server>();
  } catch (const std::exception& e) {
    GTEST_SKIP() << e.what();
  }
  // The process's s3:// backend reads these once, on first use.
  setenv("AWS_ACCESS_KEY_ID", test::S3Server::kAccessKey, 1);
  setenv("AWS_SECRET_ACCESS_KEY", test::S3Server::kSecretKey, 1);
  setenv("AWS_ENDPOINT_URL", server->endpoint().c_str(), 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("LOOM_EXPORT_ROOTS", "s3://bucket/exports/", 1);
  const json f = listFlow("export.files", {{"to", "s3://bucket/exports/run1"}, {"naming", "{relpath}"}});
  run(f);
  storage::S3Settings s;
  s.accessKey = s.secretKey = test::S3Server::kAccessKey;
  s.endpoint = server->endpoint();
  s.pathStyle = true;
  storage::S3Storage direct(s);
  auto cat = direct.read("s3://bucket/exports/run1/a/cat.jpg", 0, -1);
  ASSERT_TRUE(cat.ok()) << cat.error().message << " (was the s3:// backend set up by an earlier test with other settings?)";
  EXPECT_EQ(cat.value(), "cat bytes");
  auto manifest = direct.read("s3://bucket/exports/run1/manifest.jsonl", 0, -1);
  ASSERT_TRUE(manifest.ok());
  auto lines = jsonLines(manifest.value());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["destination"], "s3://bucket/exports/run1/a/cat.jpg");
  EXPECT_EQ(lines[0]["sha256"], core::sha256Hex("cat bytes"));

  const int64_t puts = server->stats()["by_method"].value("PUT", 0);
  run(f);
  storage::S3Storage fresh(s);  // a new client: nothing remembered from the first read
  lines = jsonLines(fresh.read("s3://bucket/exports/run1/manifest.jsonl", 0, -1).value());
  for (const auto& line : lines) EXPECT_EQ(line["status"], "unchanged") << line;
  EXPECT_EQ(server->stats()["by_method"].value("PUT", 0), puts + 1) << "only the manifest is uploaded again";
  for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION", "LOOM_EXPORT_ROOTS"})
    unsetenv(v);
}

}  // namespace
