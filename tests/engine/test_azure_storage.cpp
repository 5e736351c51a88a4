// The az:// backend against azurite on loopback (tests/support/azurite.h), with a second,
// independent client (tests/support/azure_blob.py) writing and reading some of the blobs.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../support/azurite.h"
#include "storage/azure_storage.h"
#include "storage/http_client.h"
#include "storage/storage.h"
#include "test_support.h"

namespace loom::storage {
namespace {

using test::Azurite;

// ---- pure parts: no server ------------------------------------------------------------------------

EnvLookup envOf(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

TEST(AzureConfig, ConnectionStringWithAccountKey) {
  auto a = azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_CONNECTION_STRING",
                                               "DefaultEndpointsProtocol=https;AccountName=photos;AccountKey="
                                               "c2VjcmV0LWtleS1ieXRlcw==;EndpointSuffix=core.chinacloudapi.cn"},
                                              {"AZURE_STORAGE_ACCOUNT", "ignored"}}));
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->name, "photos");
  EXPECT_EQ(a->endpoint, "https://photos.blob.core.chinacloudapi.cn");
  EXPECT_EQ(a->auth, AzureAccount::Auth::SharedKey);
  EXPECT_EQ(a->key, "secret-key-bytes");
  EXPECT_EQ(a->describeCredential(), "Shared Key (AccountKey in AZURE_STORAGE_CONNECTION_STRING)");
}

TEST(AzureConfig, ConnectionStringWithSasAndEndpoint) {
  auto a = azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_CONNECTION_STRING",
                                               "BlobEndpoint=https://acct.blob.core.windows.net/;"
                                               "SharedAccessSignature=sv=2021-12-02&sr=c&sp=rl&sig=abc%3D"}}));
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->name, "acct");
  EXPECT_EQ(a->endpoint, "https://acct.blob.core.windows.net");
  EXPECT_EQ(a->auth, AzureAccount::Auth::Sas);
  EXPECT_EQ(a->sas, "sv=2021-12-02&sr=c&sp=rl&sig=abc%3D");
}

TEST(AzureConfig, DevelopmentStorage) {
  auto a = azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true"}}));
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->name, "devstoreaccount1");
  EXPECT_EQ(a->endpoint, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(a->auth, AzureAccount::Auth::SharedKey);
}

TEST(AzureConfig, AccountVariables) {
  auto key = azureAccountFromEnvironment(
      envOf({{"AZURE_STORAGE_ACCOUNT", "media"}, {"AZURE_STORAGE_KEY", "a2V5"}, {"AZURE_STORAGE_SAS_TOKEN", "?sv=x"}}));
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->endpoint, "https://media.blob.core.windows.net");
  EXPECT_EQ(key->describeCredential(), "Shared Key (AZURE_STORAGE_KEY)");

  auto sas =
      azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_BLOB_ENDPOINT", "http://127.0.0.1:10000/devstoreaccount1"},
                                         {"AZURE_STORAGE_SAS_TOKEN", "?sv=x&sig=y"}}));
  ASSERT_TRUE(sas.ok()) << sas.error().message;
  EXPECT_EQ(sas->name, "devstoreaccount1");  // path-style endpoint: the account is its first segment
  EXPECT_EQ(sas->sas, "sv=x&sig=y");
  EXPECT_EQ(sas->describeCredential(), "SAS token (AZURE_STORAGE_SAS_TOKEN)");

  auto anon = azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_ACCOUNT", "public"}}));
  ASSERT_TRUE(anon.ok());
  EXPECT_EQ(anon->auth, AzureAccount::Auth::Anonymous);
}

TEST(AzureConfig, ProblemsNameTheVariableAndNeverTheSecret) {
  auto none = azureAccountFromEnvironment(envOf({}));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("AZURE_STORAGE_CONNECTION_STRING"), std::string::npos);

  auto badKey =
      azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_ACCOUNT", "a"}, {"AZURE_STORAGE_KEY", "not*base64!"}}));
  ASSERT_FALSE(badKey.ok());
  EXPECT_NE(badKey.error().message.find("AZURE_STORAGE_KEY"), std::string::npos);
  EXPECT_EQ(badKey.error().message.find("not*base64!"), std::string::npos);

  auto noAccount = azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_SAS_TOKEN", "sv=1&sig=SECRET"}}));
  ASSERT_FALSE(noAccount.ok());
  EXPECT_NE(noAccount.error().message.find("AZURE_STORAGE_ACCOUNT"), std::string::npos);
  EXPECT_EQ(noAccount.error().message.find("SECRET"), std::string::npos);

  auto malformed = azureAccountFromEnvironment(
      envOf({{"AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=SECRETSECRET==;garbage"}}));
  ASSERT_FALSE(malformed.ok());
  EXPECT_NE(malformed.error().message.find("part 3"), std::string::npos);
  EXPECT_EQ(malformed.error().message.find("SECRET"), std::string::npos);
}

TEST(AzureConfig, UrisDatesAndSigning) {
  auto loc = azure_detail::parseUri("az://media/a%20dir/caf%C3%A9%23%3F.jpg");
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->container, "media");
  EXPECT_EQ(loc->blob, "a dir/caf\xC3\xA9#?.jpg");
  EXPECT_EQ(azure_detail::uriFor(loc->container, loc->blob), "az://media/a%20dir/caf%C3%A9%23%3F.jpg");
  EXPECT_FALSE(azure_detail::parseUri("az://Media/x").ok());  // container names are lower case
  EXPECT_FALSE(azure_detail::parseUri("az:///x").ok());

  EXPECT_EQ(http::httpDate(1705399200), "Tue, 16 Jan 2024 10:00:00 GMT");
  EXPECT_EQ(http::parseHttpDate("Tue, 16 Jan 2024 10:00:00 GMT"), 1705399200);
  EXPECT_EQ(http::parseIsoTime("2024-01-16T10:00:00Z"), 1705399200);
  EXPECT_EQ(http::parseIsoTime("2024-01-16T10:00Z"), 1705399200);
  EXPECT_EQ(http::parseIsoTime("2024-01-16T11:00:00.1234567+01:00"), 1705399200);
  EXPECT_EQ(http::parseIsoTime("2024-01-16"), 1705363200);
  EXPECT_FALSE(http::parseIsoTime("16/01/2024").has_value());

  // The layout Azure documents for Shared Key: 12 standard lines, x-ms-* headers sorted, then the
  // resource with its query parameters lower-cased, sorted and decoded.
  const std::string sts = azure_detail::stringToSign(
      "GET", "acct", "/acct/c/a%20b", {{"restype", "container"}, {"Comp", "list"}, {"prefix", "a b/"}},
      {"x-ms-version: 2021-12-02", "x-ms-date: Tue, 16 Jan 2024 10:00:00 GMT", "x-ms-range: bytes=0-9",
       "If-Match: \"0x1\""},
      0);
  EXPECT_EQ(sts,
            "GET\n\n\n\n\n\n\n\n\"0x1\"\n\n\n\n"
            "x-ms-date:Tue, 16 Jan 2024 10:00:00 GMT\nx-ms-range:bytes=0-9\nx-ms-version:2021-12-02\n"
            "/acct/acct/c/a%20b\ncomp:list\nprefix:a b/\nrestype:container");
}

// ---- against azurite ----------------------------------------------------------------------------

std::vector<std::string> listUris(Storage& s, const std::string& uri, ListOptions options = {}) {
  std::vector<std::string> out;
  auto r = s.list(uri, options, [&](ObjectInfo&& info) {
    EXPECT_TRUE(info.error.empty()) << info.error;
    out.push_back(info.uri);
    return true;
  });
  EXPECT_TRUE(r.ok()) << r.error().message;
  return out;
}

std::string randomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng();
    for (size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = static_cast<char>(v >> (8 * k));
  }
  return s;
}

class AzureStorageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      s_server = std::make_unique<Azurite>();
    } catch (const std::exception& e) {
      s_problem = e.what();
    }
  }
  static void TearDownTestSuite() { s_server.reset(); }

  void SetUp() override {
    ASSERT_TRUE(s_server) << s_problem;
    // A fresh container per test, so tests do not see each other's blobs.
    m_container = "t" + std::to_string(++s_counter) + "-" + std::to_string(::getpid());
    server().client({"create-container", m_container});
    m_cacheDir = std::make_unique<test::TempDir>();
  }

  static Azurite& server() { return *s_server; }

  AzureAccount keyAccount(const std::string& key = Azurite::kKey) const {
    auto a = azureAccountFromEnvironment([&](const std::string& name) -> std::optional<std::string> {
      if (name == "AZURE_STORAGE_ACCOUNT") return std::string(Azurite::kAccount);
      if (name == "AZURE_STORAGE_KEY") return key;
      if (name == "AZURE_STORAGE_BLOB_ENDPOINT") return server().endpoint();
      return std::nullopt;
    });
    EXPECT_TRUE(a.ok()) << a.error().message;
    return a.value();
  }

  AzureAccount sasAccount(const std::string& sas) const {
    auto a = azureAccountFromEnvironment(
        envOf({{"AZURE_STORAGE_BLOB_ENDPOINT", server().endpoint()}, {"AZURE_STORAGE_SAS_TOKEN", sas}}));
    EXPECT_TRUE(a.ok()) << a.error().message;
    return a.value();
  }

  std::shared_ptr<AzureStorage> storage(core::Result<AzureAccount> account, AzureOptions options = {}) const {
    options.retry.baseDelay = 0.05;
    auto s = std::make_shared<AzureStorage>(std::move(account), options);
    s->setReadCache(makeReadCache(m_cacheDir->str(), int64_t{256} << 20));
    return s;
  }
  std::shared_ptr<AzureStorage> storage(AzureOptions options = {}) const { return storage(keyAccount(), options); }

  std::string uri(const std::string& blob) const { return azure_detail::uriFor(m_container, blob); }
  std::string root() const { return "az://" + m_container; }

  std::string sas(const std::string& permissions, const std::string& expiry) const {
    std::string token = server().client({"sas", m_container, "--permissions", permissions, "--expiry", expiry});
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    return token;
  }
  static std::string sigOf(const std::string& token) {
    const size_t at = token.find("sig=");
    return token.substr(at + 4, token.find('&', at) - at - 4);
  }

  std::string m_container;
  std::unique_ptr<test::TempDir> m_cacheDir;
  static inline std::unique_ptr<Azurite> s_server;
  static inline std::string s_problem;
  static inline int s_counter = 0;
};

TEST_F(AzureStorageTest, WritesListsStatsAndReads) {
  auto s = storage();
  ASSERT_TRUE(s->write(uri("b/two.txt"), "second").ok());
  ASSERT_TRUE(s->write(uri("a/one.jpg"), "first!").ok());
  ASSERT_TRUE(s->write(uri("a/deep/three.jpg"), std::string(1000, 'x')).ok());
  ASSERT_TRUE(s->write(uri("top.txt"), "").ok());  // empty blobs are objects too
  // One blob from another client, so this client is checked against a second view.
  server().client({"put", m_container, "a/from python.bin", "-"}, "written by azure_blob.py");

  EXPECT_EQ(listUris(*s, root()), (std::vector<std::string>{uri("a/deep/three.jpg"), uri("a/from python.bin"),
                                                            uri("a/one.jpg"), uri("b/two.txt"), uri("top.txt")}));
  ListOptions flat;
  flat.recursive = false;
  EXPECT_EQ(listUris(*s, root() + "/a", flat), (std::vector<std::string>{uri("a/from python.bin"), uri("a/one.jpg")}));
  EXPECT_EQ(listUris(*s, root() + "/a/", flat), (std::vector<std::string>{uri("a/from python.bin"), uri("a/one.jpg")}));
  ListOptions jpgs;
  jpgs.glob = "*.jpg";
  EXPECT_EQ(listUris(*s, root(), jpgs), (std::vector<std::string>{uri("a/deep/three.jpg"), uri("a/one.jpg")}));
  jpgs.glob = "a/*.jpg";
  EXPECT_EQ(listUris(*s, root(), jpgs), (std::vector<std::string>{uri("a/one.jpg")}));

  std::vector<ObjectInfo> infos;
  ASSERT_TRUE(s->list(root() + "/a", {}, [&](ObjectInfo&& i) {
                 infos.push_back(std::move(i));
                 return true;
               }).ok());
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].name, "three.jpg");
  EXPECT_EQ(infos[0].size, 1000);
  EXPECT_EQ(infos[1].size, 24);
  EXPECT_FALSE(infos[1].etag.empty());
  EXPECT_EQ(infos[1].etag.find('"'), std::string::npos);
  const int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LT(std::llabs(infos[1].mtimeNs - now), int64_t{300} * 1'000'000'000);

  auto st = s->stat(uri("a/from python.bin"));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->etag, infos[1].etag);
  EXPECT_EQ(st->size, 24);
  EXPECT_EQ(st->mtimeNs, infos[1].mtimeNs);
  EXPECT_EQ(st->name, "from python.bin");

  auto part = s->read(uri("a/from python.bin"), 11, 5);
  ASSERT_TRUE(part.ok()) << part.error().message;
  EXPECT_EQ(*part, "azure");
  auto whole = s->read(uri("a/one.jpg"), 0, -1);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(*whole, "first!");
  auto empty = s->read(uri("top.txt"), 0, -1);
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ(*empty, "");
  // What this client wrote, read by the other one.
  EXPECT_EQ(server().client({"get", m_container, "b/two.txt"}), "second");

  // Through storageFor(), as nodes and the CLI get it.
  auto backend = storageFor(uri("a/one.jpg"));
  ASSERT_TRUE(backend.ok()) << backend.error().message;
  EXPECT_EQ((*backend)->scheme(), "az");
}

TEST_F(AzureStorageTest, NamesWithSpacesUnicodeHashAndQuestionMarkRoundTrip) {
  auto s = storage();
  const std::vector<std::string> names = {"odd/with space & #hash?.png", "odd/caf\xC3\xA9 \xE2\x98\x83.txt",
                                          "odd/100%.txt", "odd/plus+equals=semi;colon.txt"};
  for (const auto& n : names) ASSERT_TRUE(s->write(uri(n), n).ok()) << n;
  server().client({"put", m_container, "odd/\xE6\x97\xA5\xE6\x9C\xAC python #1?.txt", "-"}, "py");
  std::vector<ObjectInfo> listed;
  ASSERT_TRUE(s->list(root() + "/odd", {}, [&](ObjectInfo&& i) {
                 listed.push_back(std::move(i));
                 return true;
               }).ok());
  ASSERT_EQ(listed.size(), 5u);
  for (const auto& info : listed) {
    auto loc = azure_detail::parseUri(info.uri);
    ASSERT_TRUE(loc.ok()) << info.uri;
    EXPECT_EQ(info.name, loc->blob.substr(4));
    EXPECT_EQ(info.uri.find(' '), std::string::npos);
    EXPECT_EQ(info.uri.find('#'), std::string::npos);
    EXPECT_EQ(info.uri.find('?'), std::string::npos);
    auto bytes = s->read(info.uri, 0, -1);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message;
    EXPECT_EQ(*bytes, loc->blob.find("python") != std::string::npos ? "py" : loc->blob);
    EXPECT_TRUE(s->stat(info.uri).ok()) << info.uri;
    // And the other client finds each blob under the same name.
    EXPECT_EQ(server().client({"get", m_container, loc->blob}), *bytes);
  }
}

TEST_F(AzureStorageTest, ListingFollowsMarkersAcrossPages) {
  AzureOptions small;
  small.pageSize = 3;
  auto paged = storage(small);
  std::vector<std::string> expected;
  for (int i = 0; i < 11; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "p/item-%02d.txt", i);
    ASSERT_TRUE(paged->write(uri(name), std::to_string(i)).ok());
    expected.push_back(uri(name));
  }
  EXPECT_EQ(listUris(*paged, root() + "/p"), expected);
  ListOptions flat;
  flat.recursive = false;
  EXPECT_EQ(listUris(*paged, root() + "/p", flat), expected);
  ListOptions glob;
  glob.glob = "*-1?.txt";
  EXPECT_EQ(listUris(*paged, root() + "/p", glob), (std::vector<std::string>{uri("p/item-10.txt")}));
  // A sink that stops early stops the listing.
  int seen = 0;
  ASSERT_TRUE(paged->list(root(), {}, [&](ObjectInfo&&) { return ++seen < 4; }).ok());
  EXPECT_EQ(seen, 4);
}

TEST_F(AzureStorageTest, PrefixSemanticsLikeFolders) {
  auto s = storage();
  ASSERT_TRUE(s->write(uri("dir/x.txt"), "x").ok());
  ASSERT_TRUE(s->write(uri("dirt.txt"), "not under dir/").ok());
  ASSERT_TRUE(s->write(uri("single.bin"), "one").ok());
  ASSERT_TRUE(s->write(uri("only/sub/deeper.txt"), "d").ok());
  EXPECT_EQ(listUris(*s, root() + "/dir"), (std::vector<std::string>{uri("dir/x.txt")}));
  EXPECT_EQ(listUris(*s, root() + "/single.bin"), (std::vector<std::string>{uri("single.bin")}));
  ListOptions flat;
  flat.recursive = false;
  EXPECT_TRUE(listUris(*s, root() + "/only", flat).empty());  // a folder holding only folders

  auto missing = s->list(root() + "/nothing", {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, core::ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find(root() + "/nothing"), std::string::npos) << missing.error().message;

  auto folder = s->stat(uri("dir"));
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_NE(folder.error().message.find("folder"), std::string::npos);
  auto gone = s->stat(uri("dir/y.txt"));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, core::ErrorKind::NotFound);
  auto unread = s->read(uri("dir/y.txt"), 0, 10);
  ASSERT_FALSE(unread.ok());
  EXPECT_EQ(unread.error().kind, core::ErrorKind::NotFound);
}

TEST_F(AzureStorageTest, MissingContainerIsNotFound) {
  auto s = storage();
  for (const std::string u : {"az://no-such-container", "az://no-such-container/a/b"}) {
    auto r = s->list(u, {}, [](ObjectInfo&&) { return true; });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, core::ErrorKind::NotFound);
    EXPECT_NE(r.error().message.find("container 'no-such-container' does not exist in account 'devstoreaccount1'"),
              std::string::npos)
        << r.error().message;
  }
  auto w = s->write("az://no-such-container/x", "x");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().kind, core::ErrorKind::NotFound);
  EXPECT_NE(w.error().message.find("does not exist"), std::string::npos) << w.error().message;
}

TEST_F(AzureStorageTest, ReadsTheNewContentOfABlobRewrittenAfterListing) {
  auto s = storage();
  ASSERT_TRUE(s->write(uri("v.txt"), "version one").ok());
  ASSERT_TRUE(s->write(uri("w.txt"), "w one").ok());
  auto listAll = [&] {
    std::vector<ObjectInfo> listed;
    EXPECT_TRUE(s->list(root(), {}, [&](ObjectInfo&& i) {
                   listed.push_back(std::move(i));
                   return true;
                 }).ok());
    return listed;
  };
  const auto before = listAll();
  ASSERT_EQ(before.size(), 2u);
  // Rewritten by another client between listing and reading: the etag this client remembers is
  // stale, the ranged GET's If-Match fails, and the read starts over on the new version.
  server().client({"put", m_container, "v.txt", "-"}, "the second, longer version");
  auto second = s->read(uri("v.txt"), 0, -1);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(*second, "the second, longer version");
  auto st = s->stat(uri("v.txt"));
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->etag, before[0].etag);

  // A blob already read is read again from the cache for the version last listed; listing anew
  // picks up a rewrite.
  auto w1 = s->read(uri("w.txt"), 0, -1);
  ASSERT_TRUE(w1.ok());
  EXPECT_EQ(*w1, "w one");
  server().client({"put", m_container, "w.txt", "-"}, "w two, rewritten");
  const auto after = listAll();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_NE(after[1].etag, before[1].etag);
  EXPECT_EQ(after[1].size, 16);
  auto w2 = s->read(uri("w.txt"), 0, -1);
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ(*w2, "w two, rewritten");
}

TEST_F(AzureStorageTest, LargeBlobGoesUpInBlocksAndReadsBack) {
  AzureOptions blocks;
  blocks.singlePutLimit = 1 << 20;  // so 17 MiB takes the Put Block path with 8 MiB blocks
  auto s = storage(blocks);
  const std::string big = randomBytes((size_t{17} << 20) + 12345, 7);
  ASSERT_TRUE(s->write(uri("big/blob.bin"), big).ok());
  auto st = s->stat(uri("big/blob.bin"));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->size, static_cast<int64_t>(big.size()));
  auto back = s->read(uri("big/blob.bin"), 0, -1);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(*back == big);
  auto middle = s->read(uri("big/blob.bin"), (8 << 20) - 100, 200);  // across a block boundary
  ASSERT_TRUE(middle.ok());
  EXPECT_TRUE(*middle == big.substr((8 << 20) - 100, 200));
  EXPECT_TRUE(server().client({"get", m_container, "big/blob.bin"}) == big);
}

TEST_F(AzureStorageTest, SasTokenGrantsWhatItSays) {
  auto writer = storage(sasAccount(sas("rwl", "2099-01-01T00:00:00Z")));
  ASSERT_TRUE(writer->write(uri("s/a.txt"), "via SAS").ok());
  EXPECT_EQ(listUris(*writer, root()), (std::vector<std::string>{uri("s/a.txt")}));
  auto r = writer->read(uri("s/a.txt"), 0, -1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "via SAS");

  const std::string readOnly = sas("rl", "2099-01-01T00:00:00Z");
  auto reader = storage(sasAccount(readOnly));
  EXPECT_EQ(listUris(*reader, root()), (std::vector<std::string>{uri("s/a.txt")}));
  auto denied = reader->write(uri("s/b.txt"), "no");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind, core::ErrorKind::PermissionDenied);
  const std::string& m = denied.error().message;
  EXPECT_NE(m.find("Put Blob"), std::string::npos) << m;
  EXPECT_NE(m.find("SAS token (AZURE_STORAGE_SAS_TOKEN)"), std::string::npos) << m;
  EXPECT_NE(m.find("devstoreaccount1"), std::string::npos) << m;
  EXPECT_NE(m.find("'rl'"), std::string::npos) << m;
  EXPECT_EQ(m.find(sigOf(readOnly)), std::string::npos) << m;
  EXPECT_EQ(m.find("sig="), std::string::npos) << m;
}

TEST_F(AzureStorageTest, ExpiredSasSaysSo) {
  ASSERT_TRUE(storage()->write(uri("e.txt"), "e").ok());
  const std::string expired = sas("rl", "2020-01-01T00:00:00Z");
  auto s = storage(sasAccount(expired));
  auto r = s->list(root(), {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, core::ErrorKind::PermissionDenied);
  EXPECT_NE(r.error().message.find("SAS token has expired"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("List Blobs"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find(sigOf(expired)), std::string::npos) << r.error().message;
  auto read = s->read(uri("e.txt"), 0, 1);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.error().message.find("SAS token has expired"), std::string::npos) << read.error().message;
}

TEST_F(AzureStorageTest, WrongKeyIsPermissionDeniedWithoutTheKey) {
  ASSERT_TRUE(storage()->write(uri("k.txt"), "k").ok());
  const std::string wrongKey = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=";
  auto s = storage(keyAccount(wrongKey));
  auto r = s->list(root(), {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, core::ErrorKind::PermissionDenied);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("List Blobs"), std::string::npos) << m;
  EXPECT_NE(m.find("Shared Key (AZURE_STORAGE_KEY)"), std::string::npos) << m;
  EXPECT_NE(m.find("'devstoreaccount1'"), std::string::npos) << m;
  EXPECT_NE(m.find("403 Authorization"), std::string::npos) << m;  // Azure's error code is named
  EXPECT_EQ(m.find(wrongKey), std::string::npos) << m;
  EXPECT_EQ(m.find(Azurite::kKey), std::string::npos) << m;
  auto read = s->read(uri("k.txt"), 0, 1);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().kind, core::ErrorKind::PermissionDenied);
  EXPECT_NE(read.error().message.find("Get Blob Properties"), std::string::npos) << read.error().message;
  auto write = s->write(uri("k2.txt"), "k");
  ASSERT_FALSE(write.ok());
  EXPECT_NE(write.error().message.find("Put Blob"), std::string::npos) << write.error().message;
}

TEST_F(AzureStorageTest, AnonymousReadsPublicContainersAndExplainsPrivateOnes) {
  const std::string pub = m_container + "-pub";
  server().client({"create-container", pub, "--public", "container"});
  server().client({"put", pub, "open/data.txt", "-"}, "public bytes");
  auto anon = storage(azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_BLOB_ENDPOINT", server().endpoint()}})));
  EXPECT_EQ(listUris(*anon, "az://" + pub), (std::vector<std::string>{"az://" + pub + "/open/data.txt"}));
  auto bytes = anon->read("az://" + pub + "/open/data.txt", 7, 5);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  EXPECT_EQ(*bytes, "bytes");

  auto priv = anon->list(root(), {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(priv.ok());
  EXPECT_NE(priv.error().message.find("no credential"), std::string::npos) << priv.error().message;
  EXPECT_NE(priv.error().message.find("AZURE_STORAGE_CONNECTION_STRING"), std::string::npos) << priv.error().message;
}

TEST_F(AzureStorageTest, ConnectionStringAccount) {
  auto a = azureAccountFromEnvironment(envOf({{"AZURE_STORAGE_CONNECTION_STRING", server().connectionString()}}));
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto s = storage(*a);
  ASSERT_TRUE(s->write(uri("cs.txt"), "connection string").ok());
  EXPECT_EQ(listUris(*s, root()), (std::vector<std::string>{uri("cs.txt")}));
}

TEST_F(AzureStorageTest, TransportErrorsAndCancellationPassThrough) {
  AzureOptions quick;
  quick.retry.maxAttempts = 2;
  AzureAccount closed = keyAccount();
  closed.endpoint = "http://127.0.0.1:1/devstoreaccount1";  // nothing listens on port 1
  auto s = storage(closed, quick);
  auto r = s->list(root(), {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, core::ErrorKind::Io);
  EXPECT_NE(r.error().message.find("no answer after 2 attempt"), std::string::npos) << r.error().message;

  core::Feedback cancelled;
  cancelled.cancel();
  auto c = storage()->list(
      root(), {}, [](ObjectInfo&&) { return true; }, &cancelled);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, core::ErrorKind::Cancelled);
}

TEST_F(AzureStorageTest, ConfigurationProblemsSurfaceOnEveryCall) {
  auto s = storage(core::Result<AzureAccount>(core::Error{core::ErrorKind::InvalidInput, "no account configured"}));
  auto r = s->list(root(), {}, [](ObjectInfo&&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "no account configured");
  EXPECT_FALSE(s->read(uri("x"), 0, 1).ok());
}

}  // namespace
}  // namespace loom::storage
