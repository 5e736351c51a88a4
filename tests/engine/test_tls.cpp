// TLS verification is on for every request Loom sends — URL sources, S3-compatible endpoints and
// model servers — and no setting turns it off: a certificate the system does not trust is a clear,
// unretried error; LOOM_CA_BUNDLE adds trust (a company's own CA) and an unreadable one is an error,
// never a reason to skip the check.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "http_fixture.h"
#include "nodes/registry.h"
#include "storage/http_client.h"
#include "storage/s3_storage.h"
#include "test_support.h"

using namespace loom;
namespace fs = std::filesystem;

namespace {

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new test::TempDir;
    cert = (dir->path() / "cert.pem").string();
    const std::string key = (dir->path() / "key.pem").string();
    // A certificate for 127.0.0.1 that no system store trusts.
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext "
                            "subjectAltName=IP:127.0.0.1 -days 2 -keyout " + key + " -out " + cert + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl (scripts/install-deps.sh) could not make a certificate";
    test::writeFile(dir->path() / "www" / "a.txt", "over tls");
    server = new test::HttpFixtureServer((dir->path() / "www").string(), {"--tls-cert", cert, "--tls-key", key});
  }
  static void TearDownTestSuite() {
    delete server;
    delete dir;
  }
  void SetUp() override {
    setenv("LOOM_ALLOW_PRIVATE_HOSTS", "127.0.0.1", 1);
    unsetenv("LOOM_CA_BUNDLE");
  }
  void TearDown() override { unsetenv("LOOM_CA_BUNDLE"); }

  static std::string https(const std::string& path) { return "https://127.0.0.1:" + std::to_string(server->port()) + path; }

  static test::TempDir* dir;
  static std::string cert;
  static test::HttpFixtureServer* server;
};
test::TempDir* Tls::dir = nullptr;
std::string Tls::cert;
test::HttpFixtureServer* Tls::server = nullptr;

TEST_F(Tls, UrlSourcesRefuseAnUntrustedCertificateAndTrustTheNamedCa) {
  storage::http::Request r;
  r.url = https("/a.txt");
  auto refused = storage::http::perform(r);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, core::ErrorKind::PermissionDenied);
  EXPECT_NE(refused.error().message.find("certificate could not be verified"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("LOOM_CA_BUNDLE"), std::string::npos) << refused.error().message;

  setenv("LOOM_CA_BUNDLE", cert.c_str(), 1);
  auto trusted = storage::http::perform(r);
  ASSERT_TRUE(trusted.ok()) << trusted.error().message;
  EXPECT_EQ(trusted->status, 200);
  EXPECT_EQ(trusted->body, "over tls");

  // A CA file that cannot be read is an error, not a fallback to no verification.
  setenv("LOOM_CA_BUNDLE", (dir->path() / "missing.pem").c_str(), 1);
  auto missing = storage::http::perform(r);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("LOOM_CA_BUNDLE"), std::string::npos) << missing.error().message;
}

TEST_F(Tls, S3EndpointsVerifyTheirCertificateToo) {
  storage::S3Settings s;
  s.accessKey = "AKIDEXAMPLE";
  s.secretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  s.endpoint = https("");
  s.pathStyle = true;
  storage::S3Storage s3(s);
  auto refused = s3.stat("s3://bucket/a.txt");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("certificate could not be verified"), std::string::npos) << refused.error().message;
  EXPECT_EQ(refused.error().message.find(s.secretKey), std::string::npos);
  // Trusted: the TLS handshake succeeds and the answer is the fixture's (a plain web server, so the
  // object is not there), not a certificate error.
  setenv("LOOM_CA_BUNDLE", cert.c_str(), 1);
  auto answered = s3.stat("s3://bucket/a.txt");
  ASSERT_FALSE(answered.ok());
  EXPECT_EQ(answered.error().message.find("certificate"), std::string::npos) << answered.error().message;
}

TEST_F(Tls, ModelServersVerifyTheirCertificateAndTheFailureIsNotRetried) {
  test::TempDir work;
  test::writeFile(work.path() / "data" / "a.txt", "x");
  setenv("LOOM_TLS_TEST_KEY", "tls-test-key-0123456789", 1);
  setenv("LOOM_TRUSTED_MODEL_HOSTS", "127.0.0.1", 1);
  auto cat = catalog::Catalog::open((work.path() / "catalog.db").string()).orThrow();
  // Each run gets its own prompt: a node's output, failed rows included, is reused for an unchanged node.
  auto runOnce = [&](const std::string& dataset) {
    nlohmann::json j = {
        {"format", "loom.flow/1"},
        {"name", "tls"},
        {"nodes",
         {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (work.path() / "data").string()}}}},
          {{"id", "m"},
           {"type", "model.llm"},
           {"params",
            {{"model", "gpt-4o-mini"}, {"prompt", "Hi {{name}} from " + dataset}, {"base_url", https("/v1")},
             {"api_key_env", "LOOM_TLS_TEST_KEY"}, {"retry_base_seconds", 0.01}}}},
          {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", dataset}}}}}},
        {"edges", {{{"from", "src"}, {"to", "m"}}, {{"from", "m"}, {"to", "out"}}}}};
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    ex.run(flow::parseFlow(j.dump(), "tls").orThrow(), {}, quiet);
    std::string error;
    auto v = cat->resolveDataset(dataset).orThrow();
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& row) {
      for (size_t i = 0; i < v.schema.size(); ++i) {
        if (v.schema[i].name == "error" && std::holds_alternative<std::string>(row[i + 1])) error = std::get<std::string>(row[i + 1]);
      }
    });
    return error;
  };
  const std::string refused = runOnce("untrusted");
  EXPECT_NE(refused.find("certificate could not be verified"), std::string::npos) << refused;
  EXPECT_NE(refused.find("after 1 attempt:"), std::string::npos) << "not retried: " << refused;
  EXPECT_EQ(refused.find("tls-test-key-0123456789"), std::string::npos);
  setenv("LOOM_CA_BUNDLE", cert.c_str(), 1);
  const std::string answered = runOnce("trusted");  // the fixture is no model server: an HTTP error
  EXPECT_EQ(answered.find("certificate"), std::string::npos) << answered;
  EXPECT_NE(answered.find("HTTP "), std::string::npos) << answered;
}

// No code path may switch verification off: the only settings of libcurl's verification options in
// the sources are the ones that turn it on.
TEST(TlsSources, NothingTurnsVerificationOff) {
  const std::regex off(R"(CURLOPT_SSL_VERIFY(PEER|HOST|STATUS)\s*,\s*0|CURLOPT_PROXY_SSL_VERIFY(PEER|HOST)\s*,\s*0|CURLSSLOPT_NO_REVOKE|--insecure|verify\s*=\s*False)");
  int files = 0;
  for (const char* top : {"engine", "app", "models", "widgets"}) {
    for (const auto& e : fs::recursive_directory_iterator(fs::path(LOOM_SOURCE_DIR) / top)) {
      if (!e.is_regular_file()) continue;
      const auto ext = e.path().extension();
      if (ext != ".cpp" && ext != ".h" && ext != ".in") continue;
      std::ifstream in(e.path());
      std::stringstream text;
      text << in.rdbuf();
      ++files;
      EXPECT_FALSE(std::regex_search(text.str(), off)) << e.path() << " turns TLS verification off";
    }
  }
  EXPECT_GT(files, 50) << "the sources were not found under " << LOOM_SOURCE_DIR;
}

}  // namespace
