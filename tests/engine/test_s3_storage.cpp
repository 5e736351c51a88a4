// s3:// and gs:// against a real S3 protocol server (s3rver) behind a proxy that verifies every
// request's Signature V4 the way S3 does: listing, stat, ranged reads, single and multipart writes,
// the credential chain, retries, error messages, and the read cache.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/hash.h"
#include "media/object_reader.h"
#include "media/probe.h"
#include "s3_server.h"
#include "storage/s3_storage.h"
#include "storage/uri.h"
#include "test_support.h"

namespace loom {
namespace {

using storage::ListOptions;
using storage::ObjectInfo;
using storage::S3Settings;
using storage::S3Storage;
using test::S3Server;
using test::S3ServerOptions;
using test::TempDir;

S3Settings settingsFor(const S3Server& server, const std::string& scheme = "s3") {
  S3Settings s;
  s.scheme = scheme;
  s.accessKey = S3Server::kAccessKey;
  s.secretKey = S3Server::kSecretKey;
  s.credentialSource = "the test";
  s.endpoint = server.endpoint();
  s.pathStyle = true;
  s.region = scheme == "gs" ? "auto" : "us-east-1";
  return s;
}

std::shared_ptr<S3Storage> makeStorage(const S3Settings& s, const TempDir& cacheDir, int64_t cacheBytes = 64 << 20) {
  auto st = std::make_shared<S3Storage>(s);
  st->setReadCache(storage::makeReadCache((cacheDir / "cache").string(), cacheBytes));
  return st;
}

std::vector<ObjectInfo> listAll(storage::Storage& st, const std::string& uri, ListOptions opts = {}) {
  std::vector<ObjectInfo> out;
  auto r = st.list(uri, opts, [&](ObjectInfo&& o) {
    out.push_back(std::move(o));
    return true;
  });
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return out;
}

std::string randomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Runs a shell command; returns its stdout.
std::string shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (p) pclose(p);
  return out;
}

TEST(S3Storage, WritesListsStatsAndReadsRangesWithValidSignatures) {
  S3Server server;
  TempDir tmp;
  auto st = makeStorage(settingsFor(server), tmp);
  // Names that need encoding in a path and in a signature: spaces, UTF-8, '+', '=', '#', '?', '%'.
  const std::vector<std::string> keys = {"a.txt", "dir/b c.txt", "dir/ä+b=c.txt", "dir/sub/x#1?.txt", "z%.txt"};
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string uri = "s3://bucket/" + storage::percentEncodePath(keys[i]);
    auto w = st->write(uri, "content " + std::to_string(i));
    ASSERT_TRUE(w.ok()) << keys[i] << ": " << w.error().message;
  }
  auto all = listAll(*st, "s3://bucket");
  ASSERT_EQ(all.size(), keys.size());
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].uri, "s3://bucket/" + storage::percentEncodePath(sorted[i]));
    EXPECT_TRUE(all[i].error.empty()) << all[i].error;
    EXPECT_FALSE(all[i].etag.empty());
    EXPECT_GT(all[i].mtimeNs, 0);
  }
  EXPECT_EQ(all[3].name, "ä+b=c.txt");  // UTF-8 sorts after ASCII, as S3 orders keys by bytes

  // A folder prefix, non-recursive, and a glob.
  auto dir = listAll(*st, "s3://bucket/dir");
  EXPECT_EQ(dir.size(), 3u);
  ListOptions flat;
  flat.recursive = false;
  EXPECT_EQ(listAll(*st, "s3://bucket/dir/", flat).size(), 2u);
  ListOptions glob;
  glob.glob = "sub/*.txt";
  auto globbed = listAll(*st, "s3://bucket/dir", glob);
  ASSERT_EQ(globbed.size(), 1u);
  EXPECT_EQ(globbed[0].name, "x#1?.txt");
  // A prefix that names one object lists that object.
  auto single = listAll(*st, "s3://bucket/a.txt");
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0].size, 9);

  auto info = st->stat(all[1].uri);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->size, static_cast<int64_t>(std::string("content 1").size()));
  EXPECT_EQ(info->etag, all[1].etag);
  auto part = st->read(all[1].uri, 8, 100);
  ASSERT_TRUE(part.ok()) << part.error().message;
  EXPECT_EQ(part.value(), "1");  // "dir/b c.txt" holds "content 1"
  auto whole = st->read(all[3].uri, 0, -1);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole.value(), "content 2");
  EXPECT_EQ(server.stats()["signature_failures"], 0);
}

TEST(S3Storage, PagesAreListedConcurrentlyAcrossPrefixesInKeyOrder) {
  S3Server server;
  TempDir tmp;
  S3Settings s = settingsFor(server);
  s.pageSize = 7;  // many pages from few objects
  s.listConcurrency = 4;
  auto st = makeStorage(s, tmp);
  std::vector<std::string> expected;
  for (const char* top : {"a", "b", "c", "d", "e"}) {
    for (int i = 0; i < 17; ++i) {
      const std::string key = std::string(top) + "/n" + std::to_string(100 + i) + ".jpg";
      ASSERT_TRUE(st->write("s3://bucket/" + key, "x").ok());
      expected.push_back("s3://bucket/" + key);
    }
  }
  for (const char* loose : {"0.jpg", "bb.jpg", "zz.jpg"}) {
    ASSERT_TRUE(st->write(std::string("s3://bucket/") + loose, "y").ok());
    expected.push_back(std::string("s3://bucket/") + loose);
  }
  std::sort(expected.begin(), expected.end());
  server.reset();
  auto all = listAll(*st, "s3://bucket/");
  std::vector<std::string> got;
  for (const auto& o : all) got.push_back(o.uri);
  EXPECT_EQ(got, expected);
  // Plain pages go on while the delimiter listing finds the prefixes, then each prefix is listed from
  // where the plain listing stopped: 88 keys need at least ceil(88/7) = 13 pages, and the fan-out
  // costs at most one delimiter page and one partial page per prefix more.
  EXPECT_GE(server.stats()["lists"], 13);
  EXPECT_LE(server.stats()["lists"], 13 + 1 + 5);

  // When the delimiter listing fails, the plain listing carries on alone: nothing lost, same order.
  server.fault(500, "InternalError", 100, "delimiter=%2F");
  std::vector<std::string> fallback;
  for (const auto& o : listAll(*st, "s3://bucket/")) fallback.push_back(o.uri);
  EXPECT_EQ(fallback, expected);

  // A listing that fits on one page takes one request.
  server.reset();
  EXPECT_EQ(listAll(*st, "s3://bucket/c").size(), 17u);  // 7 + 7 + 3: pages, but no prefixes below
  ListOptions jpgs;
  jpgs.glob = "*.jpg";
  EXPECT_EQ(listAll(*st, "s3://bucket/c/", jpgs).size(), 17u);
  S3Settings big = s;
  big.pageSize = 1000;
  auto one = makeStorage(big, tmp);
  server.reset();
  EXPECT_EQ(listAll(*one, "s3://bucket").size(), expected.size());
  EXPECT_EQ(server.stats()["lists"], 1);

  // The sink can stop the listing early; no worker outlives the call.
  int seen = 0;
  auto r = st->list("s3://bucket", {}, [&](ObjectInfo&&) { return ++seen < 10; });
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(seen, 10);
}

TEST(S3Storage, LargeWritesUseMultipartUploadAndReadBackExactly) {
  S3Server server;
  TempDir tmp;
  S3Settings s = settingsFor(server);
  s.multipartAbove = 6 << 20;
  s.partSize = 5 << 20;  // S3's smallest part
  auto st = makeStorage(s, tmp);
  const std::string big = randomBytes((12 << 20) + 12345, 7);
  ASSERT_TRUE(st->write("s3://bucket/exports/big.bin", big).ok());
  auto stats = server.stats();
  EXPECT_EQ(stats["by_method"]["POST"], 2);  // create + complete
  EXPECT_EQ(stats["by_method"]["PUT"], 3);   // three parts
  auto back = st->read("s3://bucket/exports/big.bin", 0, -1);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(core::sha256Hex(back.value()), core::sha256Hex(big));
  // A second read of the same version comes from the read cache, not the server.
  server.reset();
  auto again = st->read("s3://bucket/exports/big.bin", 5 << 20, 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), big.substr(5 << 20, 1000));
  EXPECT_EQ(server.stats()["gets"], 0);
  EXPECT_EQ(server.stats()["signature_failures"], 0);
}

TEST(S3Storage, RetriesThrottlingAndResetsThenReportsPersistentFailures) {
  S3Server server;
  TempDir tmp;
  auto st = makeStorage(settingsFor(server), tmp);
  ASSERT_TRUE(st->write("s3://bucket/k.txt", "hello").ok());
  server.fault(503, "SlowDown", 2, "list-type=2");
  EXPECT_EQ(listAll(*st, "s3://bucket").size(), 1u);
  server.fault(0, "", 2, "GET /bucket/k.txt");  // connection reset twice
  auto r = st->read("s3://bucket/k.txt", 0, 5);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), "hello");
  EXPECT_EQ(server.stats()["faults_served"], 4);

  server.fault(500, "InternalError", 20, "HEAD");
  auto bad = st->stat("s3://bucket/k.txt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("HTTP 500"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("after 5 attempts"), std::string::npos) << bad.error().message;
}

TEST(S3Storage, ErrorsNameTheCredentialAndNeverTheSecret) {
  S3ServerOptions opts;
  opts.buckets = {"bucket", "open"};
  opts.proxyArgs = {"--public-bucket", "open", "--expired-key", "AKIAEXPIREDKEY000001"};
  S3Server server(opts);
  TempDir tmp;
  ASSERT_TRUE(makeStorage(settingsFor(server), tmp)->write("s3://open/pub.txt", "public").ok());

  S3Settings wrong = settingsFor(server);
  wrong.secretKey = "wJalrXUtnFEMI-not-the-secret";
  auto r = makeStorage(wrong, tmp)->stat("s3://bucket/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, core::ErrorKind::PermissionDenied);
  auto listed = makeStorage(wrong, tmp)->list("s3://bucket", {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(listed.ok());
  EXPECT_NE(listed.error().message.find("does not match"), std::string::npos) << listed.error().message;
  EXPECT_EQ(listed.error().message.find(wrong.secretKey), std::string::npos);

  S3Settings expired = settingsFor(server);
  expired.accessKey = "AKIAEXPIREDKEY000001";
  expired.sessionToken = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";
  expired.credentialSource = "environment (AWS_ACCESS_KEY_ID)";
  auto e = makeStorage(expired, tmp)->list("s3://bucket", {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("has expired"), std::string::npos) << e.error().message;
  EXPECT_EQ(e.error().message.find(expired.sessionToken), std::string::npos);
  EXPECT_EQ(e.error().message.find(expired.accessKey), std::string::npos);  // shown masked only

  S3Settings anonymous = settingsFor(server);
  anonymous.accessKey.clear();
  anonymous.secretKey.clear();
  auto anon = makeStorage(anonymous, tmp);
  auto denied = anon->list("s3://bucket", {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.error().message.find("no credentials were found"), std::string::npos) << denied.error().message;
  auto pub = anon->read("s3://open/pub.txt", 0, -1);  // a public bucket needs none
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_EQ(pub.value(), "public");

  auto st = makeStorage(settingsFor(server), tmp);
  auto noBucket = st->list("s3://nosuchbucket", {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(noBucket.ok());
  EXPECT_EQ(noBucket.error().kind, core::ErrorKind::NotFound);
  EXPECT_NE(noBucket.error().message.find("bucket 'nosuchbucket' does not exist"), std::string::npos);
  auto noKey = st->stat("s3://bucket/missing.jpg");
  ASSERT_FALSE(noKey.ok());
  EXPECT_EQ(noKey.error().kind, core::ErrorKind::NotFound);
  EXPECT_EQ(noKey.error().message, "no object s3://bucket/missing.jpg");
}

TEST(S3Storage, FindsABucketInAnotherRegionFromTheServersAnswer) {
  S3ServerOptions opts;
  opts.buckets = {"eu-data"};
  opts.proxyArgs = {"--bucket-region", "eu-data=eu-west-1"};
  S3Server server(opts);
  TempDir tmp;
  auto st = makeStorage(settingsFor(server), tmp);  // signs for us-east-1 at first
  ASSERT_TRUE(st->write("s3://eu-data/a.txt", "bonjour").ok());
  EXPECT_EQ(listAll(*st, "s3://eu-data").size(), 1u);
  EXPECT_EQ(server.stats()["signature_failures"], 0);
}

TEST(S3Storage, ReadsSeeARewrittenObjectAndTheCacheStaysWithinItsLimit) {
  S3Server server;
  TempDir tmp;
  auto st = makeStorage(settingsFor(server), tmp, 512 * 1024);
  ASSERT_TRUE(st->write("s3://bucket/v.txt", "version one").ok());
  ASSERT_EQ(listAll(*st, "s3://bucket").size(), 1u);  // remembers version one's etag
  auto first = st->read("s3://bucket/v.txt", 0, -1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.value(), "version one");
  // Another client rewrites it: the next read must not serve the cached old version.
  auto other = makeStorage(settingsFor(server), tmp);
  ASSERT_TRUE(other->write("s3://bucket/v.txt", "version two!").ok());
  listAll(*st, "s3://bucket");
  auto second = st->read("s3://bucket/v.txt", 0, -1);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second.value(), "version two!");

  for (int i = 0; i < 8; ++i) {
    const std::string uri = "s3://bucket/blob" + std::to_string(i);
    ASSERT_TRUE(st->write(uri, randomBytes(200 * 1024, static_cast<uint64_t>(i))).ok());
    ASSERT_TRUE(st->read(uri, 0, -1).ok());
  }
  int64_t cached = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(tmp / "cache")) {
    if (f.is_regular_file()) cached += static_cast<int64_t>(f.file_size());
  }
  EXPECT_GT(cached, 0);
  EXPECT_LE(cached, 512 * 1024);
}

TEST(S3Storage, ProbingALargeVideoReadsOnlyWhatTheContainerNeeds) {
  S3Server server;
  TempDir tmp;
  // A 10+ MB MP4 with its index (moov) at the end, as cameras and plain ffmpeg write it; noise
  // keeps the encoder from compressing it to nothing.
  const auto mp4 = tmp / "clip.mp4";
  const std::string cmd = "ffmpeg -loglevel error -y -f lavfi -i testsrc=size=640x360:rate=25 -t 4 "
                          "-vf noise=alls=60:allf=t -c:v mpeg4 -q:v 2 '" + mp4.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(mp4, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 10u << 20);
  auto st = makeStorage(settingsFor(server), tmp);
  ASSERT_TRUE(st->write("s3://bucket/video/clip.mp4", bytes).ok());
  auto listed = listAll(*st, "s3://bucket/video");
  ASSERT_EQ(listed.size(), 1u);

  const int64_t before = st->fetchedBytes();
  media::ObjectReader reader(st, listed[0].uri, listed[0].size, 16 << 20, 20.0);
  const auto probe = media::probeObject(reader, listed[0].name);
  EXPECT_TRUE(probe.error.empty()) << probe.error;
  EXPECT_EQ(probe.width, 640);
  EXPECT_EQ(probe.height, 360);
  ASSERT_TRUE(probe.duration.has_value());
  EXPECT_NEAR(*probe.duration, 4.0, 0.1);
  const int64_t fetched = st->fetchedBytes() - before;
  std::printf("probing a %zu-byte MP4 (index at the end) fetched %lld bytes in %lld requests\n", bytes.size(),
              static_cast<long long>(fetched), static_cast<long long>(st->fetchCount()));
  EXPECT_LT(fetched, 1 << 20) << "probing a " << bytes.size() << "-byte video fetched " << fetched << " bytes";
}

TEST(S3Storage, GsUsesTheS3CompatibleApiWithHmacKeys) {
  S3Server server;
  TempDir tmp;
  auto gs = makeStorage(settingsFor(server, "gs"), tmp);
  ASSERT_TRUE(gs->write("gs://bucket/images/cat.png", test::pngBytes(64, 48)).ok());
  auto listed = listAll(*gs, "gs://bucket/images");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].uri, "gs://bucket/images/cat.png");
  media::ObjectReader reader(gs, listed[0].uri, listed[0].size, 1 << 20, 5.0);
  EXPECT_EQ(media::probeObject(reader, listed[0].name).width, 64);
  EXPECT_EQ(server.stats()["signature_failures"], 0);
}

TEST(S3Storage, TheAwsCliSeesWhatLoomWroteAndLoomSeesWhatTheAwsCliWrote) {
  if (!std::filesystem::exists("/usr/bin/aws")) GTEST_FAIL() << "the AWS CLI is missing: run scripts/install-deps.sh";
  S3Server server;
  TempDir tmp;
  auto st = makeStorage(settingsFor(server), tmp);
  ASSERT_TRUE(st->write("s3://bucket/from loom/ä.txt", "written by loom").ok());
  test::writeFile(tmp / "up.bin", randomBytes(3000, 3));
  const std::string env = "AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 "
                          "AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null ";
  const std::string aws = env + "/usr/bin/aws --endpoint-url " + server.endpoint() + " ";
  ASSERT_EQ(std::system((aws + "s3 cp --quiet '" + (tmp / "up.bin").string() + "' 's3://bucket/from cli/up.bin'").c_str()), 0);
  const auto cliView = nlohmann::json::parse(shell(aws + "s3api list-objects-v2 --bucket bucket --output json"));
  auto ours = listAll(*st, "s3://bucket");
  ASSERT_EQ(cliView["Contents"].size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    const auto& c = cliView["Contents"][i];
    EXPECT_EQ(ours[i].uri, "s3://bucket/" + storage::percentEncodePath(c["Key"].get<std::string>()));
    EXPECT_EQ(ours[i].size, c["Size"].get<int64_t>());
    EXPECT_EQ("\"" + ours[i].etag + "\"", c["ETag"].get<std::string>());
  }
  auto up = st->read("s3://bucket/from%20cli/up.bin", 0, -1);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up.value(), randomBytes(3000, 3));
  EXPECT_EQ(shell(aws + "s3 cp 's3://bucket/from loom/ä.txt' -"), "written by loom");
  EXPECT_EQ(server.stats()["signature_failures"], 0);
}

TEST(S3Settings, FollowTheAwsCredentialChainAndConfigFiles) {
  TempDir home;
  test::writeFile(home / ".aws/credentials",
                  "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = secretdefault\n"
                  "[work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = secretwork\n"
                  "aws_session_token = tokenwork\n");
  test::writeFile(home / ".aws/config",
                  "[default]\nregion = eu-central-1\n"
                  "[profile work]\nregion = ap-south-1\ns3 =\n  endpoint_url = http://minio.local:9000\n"
                  "  addressing_style = path\n");
  struct Env {
    std::vector<std::pair<std::string, std::string>> saved;
    void set(const std::string& k, const char* v) {
      const char* old = std::getenv(k.c_str());
      saved.emplace_back(k, old ? old : std::string("\x01"));
      if (v) setenv(k.c_str(), v, 1);
      else unsetenv(k.c_str());
    }
    ~Env() {
      for (auto it = saved.rbegin(); it != saved.rend(); ++it) {
        if (it->second == "\x01") unsetenv(it->first.c_str());
        else setenv(it->first.c_str(), it->second.c_str(), 1);
      }
    }
  } env;
  env.set("HOME", home.str().c_str());
  for (const char* k : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                        "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                        "AWS_ENDPOINT_URL_S3", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"}) {
    env.set(k, nullptr);
  }

  auto d = storage::resolveS3Settings("s3");
  EXPECT_EQ(d.accessKey, "AKIADEFAULT");
  EXPECT_EQ(d.region, "eu-central-1");
  EXPECT_TRUE(d.endpoint.empty());
  EXPECT_FALSE(d.pathStyle);

  env.set("AWS_PROFILE", "work");
  auto w = storage::resolveS3Settings("s3");
  EXPECT_EQ(w.accessKey, "AKIAWORK");
  EXPECT_EQ(w.sessionToken, "tokenwork");
  EXPECT_EQ(w.region, "ap-south-1");
  EXPECT_EQ(w.endpoint, "http://minio.local:9000");
  EXPECT_TRUE(w.pathStyle);
  EXPECT_NE(w.credentialSource.find("profile 'work'"), std::string::npos);

  env.set("AWS_ACCESS_KEY_ID", "AKIAENV");
  env.set("AWS_SECRET_ACCESS_KEY", "secretenv");
  env.set("AWS_REGION", "us-west-2");
  env.set("AWS_ENDPOINT_URL", "https://r2.example.com/");
  auto e = storage::resolveS3Settings("s3");
  EXPECT_EQ(e.accessKey, "AKIAENV");
  EXPECT_TRUE(e.sessionToken.empty());  // the profile's token does not pair with another key
  EXPECT_EQ(e.region, "us-west-2");
  EXPECT_EQ(e.endpoint, "https://r2.example.com");

  env.set("AWS_ACCESS_KEY_ID", nullptr);
  env.set("AWS_PROFILE", "nosuch");
  std::string problem;
  auto n = storage::resolveS3Settings("s3", &problem);
  EXPECT_TRUE(n.accessKey.empty());
  EXPECT_NE(problem.find("'nosuch'"), std::string::npos) << problem;
  EXPECT_NE(problem.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << problem;  // the half-set pair
}

}  // namespace
}  // namespace loom
