// Which addresses URLs from flows and data may reach (storage/net_guard.h): every spelling of the
// metadata address and of private, loopback and link-local addresses is recognised, the person's
// allowances match what they name, and requests through the HTTP client are refused before a byte
// is sent — redirects and proxies included. End-to-end refusals of URL lists are in
// tests/cli/test_urls.sh; of model base URLs in test_model_nodes.cpp.

#include <gtest/gtest.h>

#include <cstdlib>

#include "http_fixture.h"
#include "storage/http_client.h"
#include "storage/net_guard.h"
#include "test_support.h"

using namespace loom;
namespace net = loom::storage::net;

namespace {

net::AddressKind kindOf(const std::string& host) {
  auto a = net::parseAddress(host);
  if (!a) throw std::runtime_error("not an address: " + host);
  return net::classify(*a);
}

TEST(NetGuard, EverySpellingOfAnAddressIsClassifiedByWhereItLeads) {
  using K = net::AddressKind;
  const std::pair<const char*, K> cases[] = {
      // The cloud metadata service, as people (and attackers) write it.
      {"169.254.169.254", K::LinkLocal}, {"2852039166", K::LinkLocal}, {"0xa9fea9fe", K::LinkLocal},
      {"0251.0376.0251.0376", K::LinkLocal}, {"169.254.43518", K::LinkLocal}, {"0xa9.0xfe.0xa9.0xfe", K::LinkLocal},
      {"::ffff:169.254.169.254", K::LinkLocal}, {"[::ffff:a9fe:a9fe]", K::LinkLocal}, {"64:ff9b::a9fe:a9fe", K::LinkLocal},
      {"2002:a9fe:a9fe::1", K::LinkLocal}, {"::169.254.169.254", K::LinkLocal}, {"fe80::1%eth0", K::LinkLocal},
      {"fd00:ec2::254", K::Private},  // AWS's IPv6 metadata address
      // Loopback and "this host".
      {"127.0.0.1", K::Loopback}, {"127.1", K::Loopback}, {"2130706433", K::Loopback}, {"0x7f000001", K::Loopback},
      {"127.255.255.254", K::Loopback}, {"::1", K::Loopback}, {"[::1]", K::Loopback}, {"::ffff:127.0.0.1", K::Loopback},
      {"0.0.0.0", K::Reserved}, {"0", K::Reserved}, {"::", K::Reserved},
      // Private networks.
      {"10.0.0.1", K::Private}, {"172.16.0.1", K::Private}, {"172.31.255.255", K::Private}, {"192.168.1.1", K::Private},
      {"100.64.0.1", K::Private}, {"198.18.0.1", K::Private}, {"fc00::1", K::Private}, {"fec0::1", K::Private},
      {"::ffff:10.1.2.3", K::Private},
      // Multicast, documentation, broadcast.
      {"224.0.0.1", K::Reserved}, {"255.255.255.255", K::Reserved}, {"192.0.2.1", K::Reserved}, {"ff02::1", K::Reserved},
      {"2001:db8::1", K::Reserved},
      // Public neighbours of the ranges above.
      {"8.8.8.8", K::Public}, {"172.32.0.1", K::Public}, {"172.15.255.255", K::Public}, {"169.255.0.1", K::Public},
      {"100.128.0.1", K::Public}, {"2606:4700:4700::1111", K::Public}, {"::ffff:8.8.8.8", K::Public},
      {"11.0.0.1", K::Public}, {"126.255.255.255", K::Public}, {"128.0.0.1", K::Public}};
  for (const auto& [host, kind] : cases) {
    EXPECT_EQ(kindOf(host), kind) << host << " is " << net::kindName(kindOf(host)) << ", not " << net::kindName(kind);
  }
  for (const char* name : {"localhost", "metadata.google.internal", "example.com", "", "1.2.3.4.5", "::g"}) {
    EXPECT_FALSE(net::parseAddress(name).has_value()) << name;
  }
}

TEST(NetGuard, AllowancesMatchNamesPortsAddressesAndRanges) {
  const auto list = net::HostList::parse(" MinIO.lan , 10.1.0.0/16,*.corp.example:8443, 127.0.0.1:9000, [::1]:8080, fd00::/8, bad/99, ");
  EXPECT_TRUE(list.matchesHost("minio.lan", 80));
  EXPECT_TRUE(list.matchesHost("minio.lan", 9000));
  EXPECT_FALSE(list.matchesHost("other.lan", 80));
  EXPECT_TRUE(list.matchesHost("build.corp.example", 8443));
  EXPECT_FALSE(list.matchesHost("build.corp.example", 443));
  EXPECT_FALSE(list.matchesHost("corp.example", 8443)) << "*.domain names subdomains only";
  EXPECT_FALSE(list.matchesHost("evilcorp.example", 8443));
  EXPECT_TRUE(list.matchesHost("10.1.200.3", 80)) << "a numeric host matches ranges";
  EXPECT_TRUE(list.matchesAddress(*net::parseAddress("10.1.2.3"), 443));
  EXPECT_FALSE(list.matchesAddress(*net::parseAddress("10.2.0.1"), 443));
  EXPECT_TRUE(list.matchesAddress(*net::parseAddress("127.0.0.1"), 9000));
  EXPECT_FALSE(list.matchesAddress(*net::parseAddress("127.0.0.1"), 9001));
  EXPECT_TRUE(list.matchesAddress(*net::parseAddress("::1"), 8080));
  EXPECT_TRUE(list.matchesAddress(*net::parseAddress("fd12::5"), 80));
  EXPECT_FALSE(list.matchesAddress(*net::parseAddress("169.254.169.254"), 80));
  EXPECT_TRUE(net::HostList::parse("*").matchesAddress(*net::parseAddress("169.254.169.254"), 80));
  EXPECT_TRUE(net::HostList::parse("").empty());
}

TEST(NetGuard, RefusalsSayWhatWasRefusedAndHowToAllowIt) {
  unsetenv("LOOM_ALLOW_PRIVATE_HOSTS");
  const auto meta = *net::parseAddress("169.254.169.254");
  const std::string why = net::refusal(net::Purpose::UrlSource, "metadata.internal", 80, meta);
  EXPECT_NE(why.find("169.254.169.254 (the address of metadata.internal)"), std::string::npos) << why;
  EXPECT_NE(why.find("link-local"), std::string::npos) << why;
  EXPECT_NE(why.find("LOOM_ALLOW_PRIVATE_HOSTS=metadata.internal:80"), std::string::npos) << why;
  const auto loop = *net::parseAddress("127.0.0.1");
  EXPECT_NE(net::refusal(net::Purpose::UrlSource, "localhost", 8080, loop), "");
  EXPECT_EQ(net::refusal(net::Purpose::ModelServer, "localhost", 11434, loop), "") << "local model servers are allowed";
  EXPECT_NE(net::refusal(net::Purpose::ModelServer, "10.0.0.5", 8000, *net::parseAddress("10.0.0.5")), "");
  EXPECT_EQ(net::refusal(net::Purpose::Configured, "10.0.0.5", 9000, *net::parseAddress("10.0.0.5")), "");
  EXPECT_EQ(net::refusal(net::Purpose::UrlSource, "example.com", 443, *net::parseAddress("93.184.216.34")), "");
  setenv("LOOM_ALLOW_PRIVATE_HOSTS", "metadata.internal", 1);
  EXPECT_EQ(net::refusal(net::Purpose::UrlSource, "metadata.internal", 80, meta), "");
  EXPECT_NE(net::refusal(net::Purpose::UrlSource, "other.internal", 80, meta), "");
  unsetenv("LOOM_ALLOW_PRIVATE_HOSTS");
}

class NetGuardHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("LOOM_ALLOW_PRIVATE_HOSTS");
    test::writeFile(www / "a.txt", "hello");
    server = std::make_unique<test::HttpFixtureServer>(www.str());
  }
  void TearDown() override {
    unsetenv("LOOM_ALLOW_PRIVATE_HOSTS");
    unsetenv("http_proxy");
  }
  core::Result<storage::http::Response> get(const std::string& url) {
    storage::http::Request r;
    r.url = url;
    r.followRedirects = true;
    return storage::http::perform(r, {.maxAttempts = 2, .baseDelay = 0.01});
  }
  int requests() { return server->stats()["requests"].get<int>(); }  // a stats request counts after it answers

  test::TempDir www;
  std::unique_ptr<test::HttpFixtureServer> server;
};

TEST_F(NetGuardHttp, LoopbackInAnySpellingIsRefusedWithoutARequestAndNotRetried) {
  const std::string port = std::to_string(server->port());
  for (const std::string host : {"127.0.0.1", "localhost", "127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]"}) {
    SCOPED_TRACE(host);
    auto r = get("http://" + host + ":" + port + "/a.txt");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, core::ErrorKind::PermissionDenied);
    EXPECT_NE(r.error().message.find("refused to connect to "), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("a loopback address"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("LOOM_ALLOW_PRIVATE_HOSTS="), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(requests(), 0);
}

TEST_F(NetGuardHttp, TheAllowanceOpensExactlyWhatItNamesAndRedirectsAreCheckedAgain) {
  const std::string port = std::to_string(server->port());
  setenv("LOOM_ALLOW_PRIVATE_HOSTS", ("127.0.0.1:" + port).c_str(), 1);
  auto ok = get(server->url("/a.txt"));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->body, "hello");
  // A redirect from the allowed server to the metadata address, or to loopback on another port.
  for (const std::string target : {"http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F", "http%3A%2F%2F127.0.0.1%3A1%2F"}) {
    auto r = get(server->url("/redirect-to?url=" + target));
    ASSERT_FALSE(r.ok()) << target;
    EXPECT_NE(r.error().message.find("refused to connect"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(requests(), 3) << "the allowed fetch and the two redirecting answers";
}

TEST_F(NetGuardHttp, BehindAProxyTheTargetIsResolvedAndCheckedFirst) {
  // The "proxy" is the fixture server: nothing may reach it for a refused target.
  setenv("http_proxy", server->url().c_str(), 1);
  setenv("LOOM_ALLOW_PRIVATE_HOSTS", ("127.0.0.1:" + std::to_string(server->port())).c_str(), 1);
  for (const std::string url : {"http://169.254.169.254/latest/meta-data/", "http://localhost:9/", "http://10.9.8.7/"}) {
    auto r = get(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_NE(r.error().message.find("refused to connect"), std::string::npos) << r.error().message;
  }
  unsetenv("http_proxy");
  EXPECT_EQ(requests(), 0);
}

}  // namespace
