// http(s):// objects and the storage.urls node, against tests/support/http_fixture_server.py on
// loopback: a real HTTP/1.1 server with ranges, ETags, redirects and faults on demand.

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <thread>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "exec/indexer.h"
#include "flow/flow.h"
#include "http_fixture.h"
#include "nodes/registry.h"
#include "storage/http_storage.h"
#include "test_support.h"

using namespace loom;
using storage::HttpOptions;
using storage::HttpStorage;

namespace {

std::string randomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

std::string jpegBytes(int w, int h) {
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(40, 120, 200));
  std::vector<uchar> out;
  cv::imencode(".jpg", img, out);
  return std::string(out.begin(), out.end());
}

// Quick retries so that fault tests take milliseconds.
HttpOptions fastOptions() {
  HttpOptions o;
  o.retryBaseDelay = 0.01;
  o.retryMaxDelay = 0.05;
  o.timeoutSeconds = 10;
  return o;
}

class HttpStorageTest : public ::testing::Test {
 protected:
  // One server for the suite (it starts in ~0.1 s, the tests take less); counters reset per test.
  static void SetUpTestSuite() {
    // Keep the read cache of this test binary out of the user's cache folder (first user wins).
    static test::TempDir cacheDir;
    setenv("LOOM_READ_CACHE_DIR", cacheDir.str().c_str(), 0);
    www = new test::TempDir;
    server = new test::HttpFixtureServer(www->str(), {"--put"});
  }
  static void TearDownTestSuite() {
    delete server;
    delete www;
    server = nullptr;
    www = nullptr;
  }
  void SetUp() override {
    // The fixture server is on loopback, which URLs from data may reach only when the person allows
    // it (storage/net_guard.h; refusals are tested in test_net_guard.cpp).
    setenv("LOOM_ALLOW_PRIVATE_HOSTS", "127.0.0.1", 1);
    server->resetStats();
    big = randomBytes(1 << 20, 7);
    test::writeFile(*www / "big.bin", big);
    photo = jpegBytes(640, 480);
    test::writeFile(*www / "photos/photo 1.jpg", photo);
    test::writeFile(*www / "small.txt", "hello, web\n");
    test::writeFile(*www / "empty.txt", "");
  }

  static inline test::TempDir* www = nullptr;  // the served folder
  static inline test::HttpFixtureServer* server = nullptr;
  test::TempDir dir;  // this test's own files
  std::string big, photo;
  HttpStorage http{fastOptions()};
};

TEST(HttpUrl, NormalizesWhatPeopleType) {
  using storage::normalizeHttpUrl;
  EXPECT_EQ(normalizeHttpUrl("HTTPS://Example.COM:443/a b/c.jpg#frag").value(), "https://example.com/a%20b/c.jpg");
  EXPECT_EQ(normalizeHttpUrl("  http://h:80  ").value(), "http://h/");
  EXPECT_EQ(normalizeHttpUrl("http://h:8080?x=1").value(), "http://h:8080/?x=1");
  EXPECT_EQ(normalizeHttpUrl("http://h/%41%zz/\xc3\xa9").value(), "http://h/%41%25zz/%C3%A9");
  EXPECT_EQ(normalizeHttpUrl("http://[::1]:9000/x").value(), "http://[::1]:9000/x");
  EXPECT_EQ(normalizeHttpUrl("http://h/a?sig=a+b&x=%2F").value(), "http://h/a?sig=a+b&x=%2F");
  for (const char* bad : {"", "example.com/x.jpg", "ftp://h/x", "file:///etc/passwd", "http://", "http:///x",
                          "http://h:99999/x", "http://h:port/x", "http://exa mple.com/x", "http://[::1/x"}) {
    auto r = normalizeHttpUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, core::ErrorKind::InvalidInput) << bad;
    }
  }
  EXPECT_NE(normalizeHttpUrl("s3://b/k").error().message.find("not an http(s) URL"), std::string::npos);
  EXPECT_EQ(storage::httpObjectName("http://h/a/photo%201.jpg?x=1"), "photo 1.jpg");
  EXPECT_EQ(storage::httpObjectName("http://h/"), "h");
}

TEST_F(HttpStorageTest, StatReadsHeadWithoutChangingTheUri) {
  const std::string uri = server->url("/photos/photo%201.jpg");
  auto info = http.stat(uri);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->uri, uri);
  EXPECT_EQ(info->name, "photo 1.jpg");
  EXPECT_EQ(info->size, static_cast<int64_t>(photo.size()));
  EXPECT_EQ(info->etag.front(), '"');  // the server's strong ETag, as sent
  struct stat st{};
  ASSERT_EQ(::stat((*www / "photos/photo 1.jpg").c_str(), &st), 0);
  EXPECT_EQ(info->mtimeNs, int64_t{st.st_mtime} * 1'000'000'000);  // Last-Modified has whole seconds

  auto c = http.check(uri);
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.mime, "image/jpeg");
  EXPECT_EQ(c.finalUrl, uri);
  EXPECT_EQ(c.attempts, 1);
  EXPECT_EQ(server->stats()["by_method"].value("GET", 0), 0);  // HEAD only

  // The process-wide backend serves both schemes.
  auto backend = storage::storageFor(uri);
  ASSERT_TRUE(backend.ok());
  EXPECT_TRUE(storage::storageFor("https://example.com/x.jpg").ok());
  EXPECT_EQ(backend.value()->stat(uri)->size, static_cast<int64_t>(photo.size()));
}

TEST_F(HttpStorageTest, ReadsRangesWithoutDownloadingTheObject) {
  const std::string uri = server->url("/big.bin");
  auto part = http.read(uri, 300'000, 1000);
  ASSERT_TRUE(part.ok()) << part.error().message;
  EXPECT_EQ(part.value(), big.substr(300'000, 1000));
  auto tail = http.read(uri, big.size() - 10, 100);  // fewer at the end
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail.value(), big.substr(big.size() - 10));
  EXPECT_EQ(http.read(uri, big.size() + 5, 10).value(), "");
  auto stats = server->stats();
  EXPECT_GE(stats["range_requests"].get<int>(), 2);
  EXPECT_LT(stats["bytes_sent"].get<int64_t>(), 300'000);  // 64 KiB blocks, not the 1 MiB object

  auto whole = http.read(uri, 0, -1);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole.value(), big);
  EXPECT_EQ(http.read(server->url("/empty.txt"), 0, -1).value(), "");
}

TEST_F(HttpStorageTest, FollowsRedirectsAndKeepsTheAskedUrl) {
  for (const std::string path : {"/redirect/3/small.txt", "/redirect-abs/2/small.txt"}) {
    const std::string uri = server->url(path);
    auto c = http.check(uri);
    ASSERT_EQ(c.info.error, "") << path;
    EXPECT_EQ(c.info.uri, uri);
    EXPECT_EQ(c.finalUrl, server->url("/small.txt"));
    EXPECT_EQ(c.redirects, path.find("abs") != std::string::npos ? 2 : 3);
    EXPECT_EQ(c.info.size, 11);
    EXPECT_EQ(http.read(uri, 7, 100).value(), "web\n");
  }
}

TEST_F(HttpStorageTest, RedirectLoopsAndLongChainsAreClearErrors) {
  auto loop = http.stat(server->url("/redirect-loop"));
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().kind, core::ErrorKind::Io);
  EXPECT_NE(loop.error().message.find("redirect loop"), std::string::npos) << loop.error().message;

  HttpOptions o = fastOptions();
  o.maxRedirects = 4;
  HttpStorage strict(o);
  auto chain = strict.stat(server->url("/redirect/6/small.txt"));
  ASSERT_FALSE(chain.ok());
  EXPECT_NE(chain.error().message.find("more than 4 redirects"), std::string::npos) << chain.error().message;
  EXPECT_TRUE(strict.stat(server->url("/redirect/4/small.txt")).ok());
}

TEST_F(HttpStorageTest, RetriesServerErrorsAndDroppedConnections) {
  auto c = http.check(server->url("/flaky/2/small.txt"));
  EXPECT_EQ(c.info.error, "");
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.attempts, 3);
  auto r = http.check(server->url("/flakyreset/2/small.txt"));
  EXPECT_EQ(r.info.error, "");
  EXPECT_EQ(r.info.size, 11);
  // Reads retry too: the first ranged GET of this path gets a 503.
  EXPECT_EQ(http.read(server->url("/flaky/1/big.bin"), 10, 10).value(), big.substr(10, 10));

  HttpOptions o = fastOptions();
  o.maxAttempts = 2;
  HttpStorage impatient(o);
  auto gaveUp = impatient.check(server->url("/flaky/5/small.txt"));
  EXPECT_EQ(gaveUp.status, 503);
  EXPECT_EQ(gaveUp.kind, core::ErrorKind::Io);
  EXPECT_NE(gaveUp.info.error.find("HTTP 503 Service Unavailable, still after 2 attempts"), std::string::npos)
      << gaveUp.info.error;
  auto always = impatient.check(server->url("/status/500"));
  EXPECT_EQ(always.status, 500);
  EXPECT_EQ(always.attempts, 2);
}

TEST_F(HttpStorageTest, ServersThatRefuseHeadAreAskedWithARangedGet) {
  auto c = http.check(server->url("/nohead/big.bin"));
  ASSERT_EQ(c.info.error, "");
  EXPECT_EQ(c.status, 200);  // the object's status, though a 206 answered the one-byte GET
  EXPECT_EQ(c.info.size, static_cast<int64_t>(big.size()));
  EXPECT_FALSE(c.info.etag.empty());
  EXPECT_LT(server->stats()["bytes_sent"].get<int>(), 100);  // one byte, not the object
  EXPECT_EQ(http.read(server->url("/nohead/big.bin"), 500, 20).value(), big.substr(500, 20));

  // No length on HEAD: the ranged GET's Content-Range gives it.
  auto n = http.check(server->url("/nolength/big.bin"));
  ASSERT_EQ(n.info.error, "");
  EXPECT_EQ(n.info.size, static_cast<int64_t>(big.size()));

  // Refuses HEAD and ignores Range: the (small) body is streamed to learn the size.
  auto both = http.check(server->url("/nohead/norange/small.txt"));
  ASSERT_EQ(both.info.error, "");
  EXPECT_EQ(both.status, 200);
  EXPECT_EQ(both.info.size, 11);
}

TEST_F(HttpStorageTest, ServersThatIgnoreRangeStillGiveTheRightBytes) {
  const std::string uri = server->url("/norange/big.bin");
  auto head = http.read(uri, 1000, 3000);
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head.value(), big.substr(1000, 3000));
  auto mid = http.read(uri, 700'000, 5000);
  ASSERT_TRUE(mid.ok()) << mid.error().message;
  EXPECT_EQ(mid.value(), big.substr(700'000, 5000));
  auto small = http.read(server->url("/norange/small.txt"), 3, 100);
  ASSERT_TRUE(small.ok()) << small.error().message;
  EXPECT_EQ(small.value(), "lo, web\n");

  // Past the budget, a read is refused instead of downloading the object.
  HttpOptions o = fastOptions();
  o.maxIgnoredRangeBytes = 256 * 1024;
  HttpStorage frugal(o);
  EXPECT_TRUE(frugal.read(uri, 0, 1000).ok());
  auto far = frugal.read(uri, 900'000, 1000);
  ASSERT_FALSE(far.ok());
  EXPECT_NE(far.error().message.find("ignores Range"), std::string::npos) << far.error().message;
}

TEST_F(HttpStorageTest, StatusErrorsHaveKindsAndHideQueryStrings) {
  auto missing = http.stat(server->url("/nothing-here.jpg"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, core::ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find("HTTP 404 Not Found"), std::string::npos);
  EXPECT_NE(missing.error().message.find("/nothing-here.jpg"), std::string::npos);
  EXPECT_EQ(server->stats()["requests"].get<int>(), 1);  // a 404 is not retried

  auto denied = http.check(server->url("/status/403?X-Amz-Signature=s3cr3t-token"));
  EXPECT_EQ(denied.kind, core::ErrorKind::PermissionDenied);
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.info.error.find("HTTP 403 Forbidden"), std::string::npos) << denied.info.error;
  EXPECT_NE(denied.info.error.find("/status/403"), std::string::npos);
  EXPECT_EQ(denied.info.error.find("s3cr3t"), std::string::npos) << denied.info.error;

  auto unauthorized = http.check(server->url("/status/401"));
  EXPECT_EQ(unauthorized.kind, core::ErrorKind::PermissionDenied);
  EXPECT_NE(unauthorized.info.error.find("HTTP 401"), std::string::npos);
  auto gone = http.check(server->url("/status/410"));
  EXPECT_EQ(gone.kind, core::ErrorKind::NotFound);
  auto teapot = http.check(server->url("/status/418"));
  EXPECT_EQ(teapot.kind, core::ErrorKind::Io);
  EXPECT_NE(teapot.info.error.find("HTTP 418"), std::string::npos);

  auto bad = http.check("htp:/nonsense");
  EXPECT_EQ(bad.kind, core::ErrorKind::InvalidInput);
  EXPECT_EQ(bad.status, 0);
}

TEST_F(HttpStorageTest, ResetsAndTimeoutsAreErrorsAfterRetries) {
  auto reset = http.check(server->url("/reset/small.txt"));
  EXPECT_EQ(reset.status, 0);
  EXPECT_EQ(reset.kind, core::ErrorKind::Io);
  EXPECT_NE(reset.info.error.find("no answer after 4 attempt"), std::string::npos) << reset.info.error;
  // curl itself sends once more when a kept-alive connection turns out dead, so at least 4.
  EXPECT_GE(server->stats()["by_path"].value("/reset/small.txt", 0), 4);

  HttpOptions o = fastOptions();
  o.timeoutSeconds = 0.3;
  o.maxAttempts = 1;
  HttpStorage hasty(o);
  const auto t0 = std::chrono::steady_clock::now();
  auto slow = hasty.check(server->url("/slow/3000/small.txt"));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(slow.status, 0);
  EXPECT_NE(slow.info.error.find("timed out"), std::string::npos) << slow.info.error;
  EXPECT_LT(took, 2.0);
  EXPECT_GE(slow.seconds, 0.25);
  auto fine = hasty.check(server->url("/slow/50/small.txt"));
  EXPECT_EQ(fine.info.error, "");

  // Nothing listens on port 1: connection refused, retried, then an error naming the URL.
  auto refused = http.check("http://127.0.0.1:1/x.jpg");
  EXPECT_EQ(refused.status, 0);
  EXPECT_NE(refused.info.error.find("http://127.0.0.1:1/x.jpg"), std::string::npos) << refused.info.error;
}

TEST_F(HttpStorageTest, AChangedObjectIsReadAnew) {
  for (const std::string prefix : {"", "/weaketag", "/noetag"}) {
    const std::string name = "changing" + std::string(prefix.empty() ? "" : prefix.substr(1)) + ".txt";
    test::writeFile(*www / name, "version one");
    const std::string uri = server->url(prefix + "/" + name);
    auto first = http.stat(uri);
    ASSERT_TRUE(first.ok()) << first.error().message;
    if (prefix == "/weaketag") {
      EXPECT_TRUE(first->etag.starts_with("W/\"")) << first->etag;
    }
    if (prefix == "/noetag") {
      EXPECT_TRUE(first->etag.starts_with("lm:")) << first->etag;
    }
    // A different size and a later mtime, so even the Last-Modified version changes.
    test::writeFile(*www / name, "version two, longer");
    std::filesystem::last_write_time(*www / name,
                                     std::filesystem::last_write_time(*www / name) + std::chrono::seconds(5));
    auto got = http.read(uri, 0, -1);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got.value(), "version two, longer") << prefix;
  }
}

TEST_F(HttpStorageTest, ListsOneUrlAsOneObject) {
  std::vector<storage::ObjectInfo> seen;
  auto sink = [&](storage::ObjectInfo&& o) {
    seen.push_back(std::move(o));
    return true;
  };
  ASSERT_TRUE(http.list(server->url("/photos/photo%201.jpg"), {}, sink).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].name, "photo 1.jpg");
  storage::ListOptions txtOnly;
  txtOnly.glob = "*.txt";
  ASSERT_TRUE(http.list(server->url("/photos/photo%201.jpg"), txtOnly, sink).ok());
  EXPECT_EQ(seen.size(), 1u);
  auto missing = http.list(server->url("/none.jpg"), {}, sink);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, core::ErrorKind::NotFound);
}

TEST_F(HttpStorageTest, WritesWithPutWhereTheServerAllowsIt) {
  ASSERT_TRUE(http.write(server->url("/uploads/new.txt"), "uploaded").ok());
  EXPECT_EQ(http.read(server->url("/uploads/new.txt"), 0, -1).value(), "uploaded");

  test::HttpFixtureServer readOnly(www->str());
  auto refused = http.write(readOnly.url("/uploads/other.txt"), "x");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, core::ErrorKind::Unsupported);
  EXPECT_NE(refused.error().message.find("does not accept PUT"), std::string::npos);
}

// TLS verification: test_tls.cpp.

TEST_F(HttpStorageTest, ChecksManyUrlsConcurrentlyFromManyThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) ok += http.check(server->url("/small.txt")).info.error.empty() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
}

// --- storage.urls -------------------------------------------------------------------------------

class UrlListTest : public HttpStorageTest {
 protected:
  void SetUp() override {
    HttpStorageTest::SetUp();
    cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
    for (int i = 0; i < 6; ++i)
      test::writeFile(*www / ("img/p" + std::to_string(i) + ".jpg"), jpegBytes(100 + 10 * i, 80));
  }

  exec::RunResult run(const nlohmann::json& nodes, const nlohmann::json& edges) {
    nlohmann::json j = {{"format", "loom.flow/1"}, {"name", "urls"}, {"nodes", nodes}, {"edges", edges}};
    flow::Flow f = flow::parseFlow(j.dump(), "t").orThrow();
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    return ex.run(f, exec::RunOptions{}, quiet);
  }

  // Rows of the latest version of `dataset` as {column: value} maps.
  std::vector<std::map<std::string, core::Value>> rows(const std::string& dataset) {
    auto v = cat->resolveDataset(dataset).orThrow();
    std::vector<std::map<std::string, core::Value>> out;
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& row) {
      std::map<std::string, core::Value> m;
      for (size_t i = 0; i < v.schema.size(); ++i) m[v.schema[i].name] = row[i + 1];
      out.push_back(std::move(m));
    });
    return out;
  }

  static std::string text(const core::Value& v) {
    return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
  }

  std::unique_ptr<catalog::Catalog> cat;
};

TEST_F(UrlListTest, ChecksACsvColumnAndFlagsBrokenUrlsInInputOrder) {
  const std::string s = server->url("");
  std::string csv = "sku,url,title\n";
  csv += "a1," + s + "/img/p0.jpg,\"Red, big\"\n";
  csv += "a2," + s + "/missing.jpg,gone\n";
  csv += "a3,\"" + s + "/redirect/2/img/p1.jpg\",moved\n";
  csv += "a4,not a url,junk\n";
  csv += "a5," + s + "/status/403?token=secret,private\n";
  csv += "a6," + s + "/img/p0.jpg,duplicate\n";
  csv += "a7," + s + "/flaky/1/img/p2.jpg,flaky\n";
  csv += "a8,,empty\n";
  csv += "a9,ftp://example.com/x.jpg,ftp\n";
  csv += "a10," + s + "/slow/200/img/p3.jpg,\"multi\nline\"\r\n";
  test::writeFile(dir / "list.csv", csv);

  auto r = run({{{"id", "src"}, {"type", "storage.urls"},
                 {"params", {{"uri", (dir / "list.csv").string()}, {"keep", "sku, title"}, {"concurrency", 4}}}},
                {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "checked"}}}}},
               {{{"from", "src"}, {"to", "out"}}});
  EXPECT_EQ(r.status, "succeeded");
  auto got = rows("checked");
  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(text(got[i]["sku"]), "a" + std::to_string(i + 1));
  EXPECT_EQ(text(got[0]["title"]), "Red, big");
  EXPECT_EQ(text(got[9]["title"]), "multi\nline");

  auto ok = [&](size_t i) {
    EXPECT_TRUE(core::isNull(got[i]["error"])) << i << ": " << text(got[i]["error"]);
    EXPECT_EQ(std::get<int64_t>(got[i]["status"]), 200) << i;
    EXPECT_EQ(text(got[i]["mime"]), "image/jpeg") << i;
    EXPECT_GT(std::get<int64_t>(got[i]["size"]), 0) << i;
    EXPECT_FALSE(text(got[i]["etag"]).empty()) << i;
    EXPECT_FALSE(text(got[i]["mtime"]).empty()) << i;
    EXPECT_GT(std::get<double>(got[i]["seconds"]), 0.0) << i;
  };
  for (size_t i : {0u, 2u, 5u, 6u, 9u}) ok(i);
  EXPECT_EQ(text(got[0]["uri"]), s + "/img/p0.jpg");
  EXPECT_EQ(text(got[0]["name"]), "p0.jpg");
  EXPECT_EQ(text(got[2]["final_url"]), s + "/img/p1.jpg");
  EXPECT_EQ(text(got[2]["uri"]), s + "/redirect/2/img/p1.jpg");

  EXPECT_EQ(std::get<int64_t>(got[1]["status"]), 404);
  EXPECT_NE(text(got[1]["error"]).find("HTTP 404"), std::string::npos);
  EXPECT_NE(text(got[3]["error"]).find("not a URL"), std::string::npos) << text(got[3]["error"]);
  EXPECT_TRUE(core::isNull(got[3]["status"]));
  EXPECT_EQ(std::get<int64_t>(got[4]["status"]), 403);
  EXPECT_EQ(text(got[4]["error"]).find("secret"), std::string::npos);
  EXPECT_EQ(text(got[7]["error"]), "empty URL");
  EXPECT_NE(text(got[8]["error"]).find("not an http(s) URL"), std::string::npos);
  EXPECT_EQ(r.outputs[0].rows, 10);
  EXPECT_EQ(cat->resolveDataset("checked").orThrow().rowsFailed, 5);
}

TEST_F(UrlListTest, ProbesAndThumbnailsHttpRowsLikeFiles) {
  const std::string s = server->url("");
  std::string jsonl;
  for (int i = 0; i < 6; ++i)
    jsonl += nlohmann::json{{"link", s + "/img/p" + std::to_string(i) + ".jpg"}, {"n", i}}.dump() + "\n";
  jsonl += "{\"link\": \"" + s + "/status/404\", \"n\": 6}\n";
  jsonl += "this is not json\n";
  jsonl += "{\"n\": 8}\n";
  test::writeFile(dir / "list.jsonl", jsonl);

  auto r =
      run({{{"id", "src"},
            {"type", "storage.urls"},
            {"params", {{"uri", (dir / "list.jsonl").string()}, {"column", "link"}, {"keep", "n"}}}},
           {{"id", "meta"}, {"type", "media.probe"}, {"params", nlohmann::json::object()}},
           {{"id", "thumb"}, {"type", "media.thumbnail"}, {"params", {{"size", 32}}}},
           {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "probed"}}}}},
          {{{"from", "src"}, {"to", "meta"}}, {{"from", "meta"}, {"to", "thumb"}}, {{"from", "thumb"}, {"to", "out"}}});
  EXPECT_EQ(r.status, "succeeded");
  auto got = rows("probed");
  ASSERT_EQ(got.size(), 9u);
  for (int i = 0; i < 6; ++i) {
    auto& row = got[static_cast<size_t>(i)];
    EXPECT_TRUE(core::isNull(row["error"])) << text(row["error"]);
    EXPECT_EQ(std::get<int64_t>(row["n"]), i);
    EXPECT_EQ(std::get<int64_t>(row["width"]), 100 + 10 * i);
    EXPECT_EQ(std::get<int64_t>(row["height"]), 80);
    EXPECT_EQ(text(row["format"]), "jpeg");
    EXPECT_EQ(std::get<int64_t>(row["thumb_width"]), 32);
    EXPECT_FALSE(text(row["thumbnail"]).empty());
  }
  EXPECT_NE(text(got[6]["error"]).find("HTTP 404"), std::string::npos);
  EXPECT_NE(text(got[7]["error"]).find("line 8 of the URL list is not a JSON object"), std::string::npos)
      << text(got[7]["error"]);
  EXPECT_NE(text(got[8]["error"]).find("has no \"link\""), std::string::npos) << text(got[8]["error"]);
}

TEST_F(UrlListTest, ReadsADatasetAndCanSkipTheChecks) {
  const std::string s = server->url("");
  test::writeFile(dir / "urls.txt", "# product photos\n" + s + "/img/p0.jpg\n\n  HTTP://127.0.0.1:" +
                                        std::to_string(server->port()) + "/img/p1.jpg#top  \nmailto:x@y\n");
  auto r = run({{{"id", "src"}, {"type", "storage.urls"},
                 {"params", {{"uri", (dir / "urls.txt").string()}, {"check", false}}}},
                {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "plain"}}}}},
               {{{"from", "src"}, {"to", "out"}}});
  EXPECT_EQ(r.status, "succeeded");
  auto plain = rows("plain");
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(text(plain[1]["uri"]), s + "/img/p1.jpg");  // normalised
  EXPECT_EQ(text(plain[1]["name"]), "p1.jpg");
  EXPECT_TRUE(core::isNull(plain[1]["status"]));
  EXPECT_TRUE(core::isNull(plain[1]["size"]));
  EXPECT_FALSE(text(plain[2]["error"]).empty());
  EXPECT_EQ(server->stats()["requests"].get<int>(), 0);  // check=false asks no server

  // The list itself may live behind a URL.
  test::writeFile(*www / "lists/urls.txt", s + "/img/p2.jpg\n" + s + "/img/p3.jpg\n");
  auto r1 = run({{{"id", "src"}, {"type", "storage.urls"}, {"params", {{"uri", s + "/lists/urls.txt?v=1"}}}},
                 {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "remote_list"}}}}},
                {{{"from", "src"}, {"to", "out"}}});
  EXPECT_EQ(r1.status, "succeeded");
  auto remote = rows("remote_list");
  ASSERT_EQ(remote.size(), 2u);
  EXPECT_EQ(text(remote[1]["name"]), "p3.jpg");
  EXPECT_EQ(std::get<int64_t>(remote[1]["status"]), 200);

  // The saved dataset is itself a URL list.
  auto r2 = run({{{"id", "src"}, {"type", "storage.urls"}, {"params", {{"dataset", "plain"}, {"column", "uri"}}}},
                 {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "rechecked"}}}}},
                {{{"from", "src"}, {"to", "out"}}});
  EXPECT_EQ(r2.status, "succeeded");
  auto again = rows("rechecked");
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(again[0]["status"]), 200);
  EXPECT_EQ(std::get<int64_t>(again[1]["size"]), static_cast<int64_t>(jpegBytes(110, 80).size()));
  EXPECT_NE(text(again[2]["error"]).find("is not a URL"), std::string::npos) << text(again[2]["error"]);
}

TEST_F(UrlListTest, ParametersAreCheckedBeforeAnythingRuns) {
  auto invalid = [&](const nlohmann::json& params, const std::string& expect) {
    try {
      run({{{"id", "src"}, {"type", "storage.urls"}, {"params", params}},
           {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "x"}}}}},
          {{{"from", "src"}, {"to", "out"}}});
      ADD_FAILURE() << "ran with " << params.dump();
    } catch (const core::RunError& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow);
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  };
  test::writeFile(dir / "l.csv", "link\nhttp://127.0.0.1:1/x\n");
  invalid(nlohmann::json::object(), "give the URL list");
  invalid({{"uri", (dir / "l.csv").string()}, {"dataset", "d"}}, "not both");
  invalid({{"uri", (dir / "l.dat").string()}}, "set format");
  invalid({{"uri", (dir / "l.csv").string()}, {"keep", "uri"}}, "one of this node's own columns");
  invalid({{"dataset", "nope"}}, "nope");
  invalid({{"uri", (dir / "l.csv").string()}}, "no column 'url' (its header names: link)");
  invalid({{"uri", (dir / "absent.csv").string()}}, "absent.csv");
}

TEST_F(UrlListTest, IndexTakesASingleUrl) {
  core::Feedback quiet;
  exec::IndexOptions opts;
  opts.uri = server->url("/img/p2.jpg");
  auto r = exec::indexSource(*cat, opts, quiet);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->objects, 1);
  EXPECT_EQ(r->probed, 1);
  EXPECT_EQ(r->errors, 0);
  auto q = cat->db().prepare("SELECT width, height, mime FROM objects WHERE uri=?");
  q.bind(1, opts.uri);
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.int64(0), 120);
  EXPECT_EQ(q.int64(1), 80);
  EXPECT_EQ(q.text(2), "image/jpeg");
}

}  // namespace
