// Personal data: the scanners (positives and the look-alikes they must leave alone: failed checksums,
// never-issued SSNs, dates, times, version numbers, code), pii.detect and pii.redact in flows, the
// salted hashes that keep joins working, and model.llm's refuse_pii against the model test server.

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "model_server.h"
#include "nodes/registry.h"
#include "test_support.h"
#include "text/pii.h"

using namespace loom;
using nlohmann::json;
using text::PiiType;

namespace {

using Row = std::map<std::string, core::Value>;
std::string str(const core::Value& v) { return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : ""; }
int64_t num(const core::Value& v) { return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : -1; }

// "type:value" for every finding in `s`.
std::vector<std::string> found(const std::string& s, std::vector<std::string> deny = {}) {
  text::PiiOptions o;
  o.denyTerms = std::move(deny);
  std::vector<std::string> out;
  for (const auto& f : text::findPii(s, o))
    out.push_back(std::string(text::piiTypeName(f.type)) + ":" + s.substr(f.start, f.end - f.start));
  return out;
}

using V = std::vector<std::string>;

TEST(PiiScanners, FindEachKindWithItsExactExtent) {
  EXPECT_EQ(found("Mail john.doe+news@mail.example.co.uk."), V{"email:john.doe+news@mail.example.co.uk"});
  EXPECT_EQ(found("Card 4111 1111 1111 1111 exp 12/29"), V{"credit_card:4111 1111 1111 1111"});
  EXPECT_EQ(found("amex 3782-822463-10005"), V{"credit_card:3782-822463-10005"});
  EXPECT_EQ(found("5500000000000004"), V{"credit_card:5500000000000004"});
  EXPECT_EQ(found("IBAN DE89 3704 0044 0532 0130 00, thanks"), V{"iban:DE89 3704 0044 0532 0130 00"});
  EXPECT_EQ(found("GB82WEST12345698765432"), V{"iban:GB82WEST12345698765432"});
  EXPECT_EQ(found("typed as gb82 west 1234 5698 7654 32"), V{"iban:gb82 west 1234 5698 7654 32"});
  EXPECT_EQ(found("server at 192.168.1.20:8080"), V{"ipv4:192.168.1.20"});
  EXPECT_EQ(found("v6 2001:db8::8a2e:370:7334 and ::1"), (V{"ipv6:2001:db8::8a2e:370:7334", "ipv6:::1"}));
  EXPECT_EQ(found("full 2001:0db8:0000:0000:0000:ff00:0042:8329."), V{"ipv6:2001:0db8:0000:0000:0000:ff00:0042:8329"});
  EXPECT_EQ(found("mapped ::ffff:192.0.2.128"), V{"ipv6:::ffff:192.0.2.128"});
  EXPECT_EQ(found("nic 00:1A:2B:3C:4D:5E, 00-1a-2b-3c-4d-5f, 001a.2b3c.4d60"),
            (V{"mac:00:1A:2B:3C:4D:5E", "mac:00-1a-2b-3c-4d-5f", "mac:001a.2b3c.4d60"}));
  EXPECT_EQ(found("SSN 536-22-1234."), V{"us_ssn:536-22-1234"});
  EXPECT_EQ(found("call +49 30 1234567 or +1 (415) 555-0100"), (V{"phone:+49 30 1234567", "phone:+1 (415) 555-0100"}));
  EXPECT_EQ(found("office (415) 555-0100, cell 415-555-0199, fax 415.555.0142"),
            (V{"phone:(415) 555-0100", "phone:415-555-0199", "phone:415.555.0142"}));
  EXPECT_EQ(found("+4915112345678"), V{"phone:+4915112345678"});
}

TEST(PiiScanners, LeaveLookAlikesAlone) {
  // Checksums: one digit off.
  EXPECT_TRUE(found("4111 1111 1111 1112").empty()) << "Luhn fails";
  EXPECT_TRUE(found("DE89 3704 0044 0532 0130 01").empty()) << "mod-97 fails";
  EXPECT_TRUE(found("DE89 3704 0044 0532 0130").empty()) << "too short for DE";
  EXPECT_TRUE(found("9111111111111111").empty()) << "Luhn holds but no issuer starts with 9";
  EXPECT_TRUE(found("0000 0000 0000 0000").empty());
  EXPECT_TRUE(found("order 41111111111111111111111").empty()) << "a longer number is not a card";
  // Never-issued SSNs.
  for (const char* ssn : {"000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "078-05-1120"})
    EXPECT_TRUE(found(ssn).empty()) << ssn;
  // Dates, times, versions, numbers and code.
  for (const char* s : {"2023-10-12", "12.10.2023", "on 2023-10-12 at 12:30:45", "10/12/2023", "ISBN 978-3-16-148410-0",
                        "v1.2.3.4", "version 10.0.0.1", "release 2.4.0.1", "1.2.3.4.5", "256.1.1.1", "01.02.03.04",
                        "std::vector<int>", "a::b is C++", "1234567890", "123-456-7890", "+0 123 456 789",
                        "user@localhost", "a@b.c", "12:34", "phone: 555-1234"})
    EXPECT_TRUE(found(s).empty()) << s << " gave " << (found(s).empty() ? "" : found(s)[0]);
  // Honest limits: a dotted quad with no version word before it is reported.
  EXPECT_EQ(found("upgraded to 1.2.3.4 today"), V{"ipv4:1.2.3.4"});
}

TEST(PiiScanners, DenyListIsCaseInsensitiveWholeWordAndOverlapsKeepTheStrongerFinding) {
  EXPECT_EQ(found("Project FALCON and falconry, Falcon.", {"falcon"}), (V{"deny_list:FALCON", "deny_list:Falcon"}));
  EXPECT_EQ(found("Meeting in ZÜRICH", {"zürich"}), V{"deny_list:ZÜRICH"});
  EXPECT_EQ(found("Ann Smith wrote", {"ann smith"}), V{"deny_list:Ann Smith"});
  EXPECT_EQ(found("contact ann@example.com", {"ann"}), V{"email:ann@example.com"})
      << "the e-mail (longer, at the same start) wins over the term inside it";
  // Offsets are bytes here; the node reports characters (see the node test).
  text::PiiOptions o;
  o.minConfidence = 0.8;
  auto f = text::findPii("a@example.com 192.168.0.1", o);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, PiiType::Email);
  EXPECT_EQ(text::piiCanonical(PiiType::Phone, "+49 (30) 123-4567"), "+49301234567");
  EXPECT_EQ(text::piiCanonical(PiiType::Iban, "de89 3704"), "DE893704");
  EXPECT_EQ(text::piiPreview("john.doe@example.com"), "j***om");
  EXPECT_EQ(text::piiPreview("short"), "***");
}

// --- nodes --------------------------------------------------------------------------------------

constexpr const char* kKey = "test-key-7f3a9c2e41";

class PiiNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("XDG_CONFIG_HOME", dir.str().c_str(), 1);
    unsetenv("LOOM_PRICING");
    cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  }
  void file(const std::string& name, const std::string& bytes) { test::writeFile(dir / "data" / name, bytes); }

  exec::RunResult run(const std::vector<json>& chain, const std::string& dataset = "out") {
    json nodes = json::array({{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (dir / "data").string()}}}},
                              {{"id", "read"}, {"type", "text.read"}, {"params", json::object()}}});
    json edges = json::array({{{"from", "src"}, {"to", "read"}}});
    std::string prev = "read";
    for (size_t i = 0; i < chain.size(); ++i) {
      const std::string id = chain[i].value("id", "n" + std::to_string(i));
      nodes.push_back({{"id", id}, {"type", chain[i]["type"]}, {"params", chain[i].value("params", json::object())}});
      edges.push_back({{"from", prev}, {"to", id}});
      prev = id;
    }
    nodes.push_back({{"id", "save"}, {"type", "dataset.save"}, {"params", {{"name", dataset}}}});
    edges.push_back({{"from", prev}, {"to", "save"}});
    json f = {{"format", "loom.flow/1"}, {"name", "pii"}, {"nodes", nodes}, {"edges", edges}};
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    return ex.run(flow::parseFlow(f.dump(), (dir / "t.loomflow").string()).orThrow(), exec::RunOptions{}, quiet);
  }
  std::string failure(const std::vector<json>& chain) {
    try {
      run(chain, "failed");
    } catch (const core::RunError& e) {
      return e.what();
    }
    return {};
  }
  std::map<std::string, Row> byName(const std::string& dataset = "out") {
    auto v = cat->resolveDataset(dataset).orThrow();
    std::map<std::string, Row> out;
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& r) {
      Row m;
      for (size_t i = 0; i < v.schema.size(); ++i) m[v.schema[i].name] = r[i + 1];
      out[str(m["name"])] = m;
    });
    return out;
  }

  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
};

TEST_F(PiiNodes, DetectCountsTypesAndListsFindingsWithoutEchoingThem) {
  file("clean.txt", "Nothing personal in here, version 1.0.2.3 notwithstanding.");
  file("mixed.txt", "Grüße von Jörg: joerg@example.de, +49 30 1234567, card 4111-1111-1111-1111.");
  file("secret.txt", "Codename Falcon lands Tuesday.");
  file("bin.dat", std::string("\x00\x01 binary", 9));
  run({{{"type", "pii.detect"}, {"params", {{"deny_list", json::array({"falcon", "Project X"})}}}}});
  auto m = byName();
  EXPECT_EQ(num(m["clean.txt"]["pii_count"]), 0);
  EXPECT_EQ(str(m["clean.txt"]["pii_types"]), "");
  EXPECT_EQ(str(m["clean.txt"]["pii_findings"]), "[]");
  EXPECT_EQ(num(m["mixed.txt"]["pii_count"]), 3);
  EXPECT_EQ(str(m["mixed.txt"]["pii_types"]), "credit_card,email,phone");
  const json f = json::parse(str(m["mixed.txt"]["pii_findings"]));
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0]["type"], "email");
  EXPECT_EQ(f[0]["column"], "text");
  EXPECT_EQ(f[0]["start"], 16) << "characters: ü and ö are one each";
  EXPECT_EQ(f[0]["end"], 32);
  EXPECT_EQ(f[0]["confidence"], 0.85);
  EXPECT_EQ(f[2]["confidence"], 0.95);
  EXPECT_EQ(str(m["mixed.txt"]["pii_findings"]).find("joerg@example.de"), std::string::npos) << "not echoed";
  EXPECT_EQ(str(m["mixed.txt"]["pii_findings"]).find("4111-1111-1111-1111"), std::string::npos);
  EXPECT_EQ(f[0]["preview"], "j***de");
  EXPECT_EQ(str(m["secret.txt"]["pii_types"]), "deny_list");
  EXPECT_NE(str(m["bin.dat"]["error"]).find("binary"), std::string::npos) << "the upstream error is kept";
  EXPECT_TRUE(core::isNull(m["bin.dat"]["pii_count"]));

  run({{{"type", "pii.detect"}, {"params", {{"types", json::array({"email"})}, {"include_text", true}}}}}, "emails");
  m = byName("emails");
  EXPECT_EQ(str(m["mixed.txt"]["pii_types"]), "email");
  EXPECT_EQ(json::parse(str(m["mixed.txt"]["pii_findings"]))[0]["text"], "joerg@example.de");

  std::string msg = failure({{{"type", "pii.detect"}, {"params", {{"types", json::array({"email", "emial"})}}}}});
  EXPECT_NE(msg.find("'types'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("emial"), std::string::npos) << msg;
  msg = failure({{{"type", "pii.detect"}, {"params", {{"columns", json::array({"text", "body"})}}}}});
  EXPECT_NE(msg.find("'columns'"), std::string::npos) << msg;
  msg = failure({{{"type", "pii.detect"}, {"params", {{"columns", json::array({"size"})}}}}});
  EXPECT_NE(msg.find("not text"), std::string::npos) << msg;
  msg = failure({{{"type", "pii.detect"}, {"params", {{"types", json::array({"deny_list"})}}}}});
  EXPECT_NE(msg.find("'deny_list'"), std::string::npos) << msg;
  msg = failure({{{"type", "pii.detect"}, {"params", {{"min_confidence", 2}}}}});
  EXPECT_NE(msg.find("min_confidence"), std::string::npos) << msg;
}

TEST_F(PiiNodes, RedactMasksTagsOrHashesWithASaltFromTheEnvironmentSoJoinsStillWork) {
  file("a.txt", "From Ann@Example.com, IBAN DE89 3704 0044 0532 0130 00.");
  file("b.txt", "Reply to ann@example.com please");
  file("c.txt", "nothing here");
  run({{{"type", "pii.redact"}}}, "tagged");
  auto m = byName("tagged");
  EXPECT_EQ(str(m["a.txt"]["text"]), "From [EMAIL], IBAN [IBAN].");
  EXPECT_EQ(num(m["a.txt"]["pii_redacted"]), 2);
  EXPECT_EQ(str(m["c.txt"]["text"]), "nothing here");
  EXPECT_EQ(num(m["c.txt"]["pii_redacted"]), 0);

  run({{{"type", "pii.redact"}, {"params", {{"mode", "mask"}}}}}, "masked");
  EXPECT_EQ(str(byName("masked")["b.txt"]["text"]), "Reply to **** please");

  std::string msg = failure({{{"type", "pii.redact"}, {"params", {{"mode", "hash"}}}}});
  EXPECT_NE(msg.find("'salt_env'"), std::string::npos) << msg;
  msg = failure({{{"type", "pii.redact"}, {"params", {{"mode", "hash"}, {"salt_env", "my salt!"}}}}});
  EXPECT_NE(msg.find("'salt_env'"), std::string::npos) << msg;
  unsetenv("LOOM_TEST_PII_SALT");
  msg = failure({{{"type", "pii.redact"}, {"params", {{"mode", "hash"}, {"salt_env", "LOOM_TEST_PII_SALT"}}}}});
  EXPECT_NE(msg.find("LOOM_TEST_PII_SALT is not set"), std::string::npos) << msg;

  setenv("LOOM_TEST_PII_SALT", "a-test-salt-of-32-characters-xyz", 1);
  const json hashed = {{"type", "pii.redact"}, {"params", {{"mode", "hash"}, {"salt_env", "LOOM_TEST_PII_SALT"}}}};
  run({hashed}, "hashed");
  m = byName("hashed");
  const std::string a = str(m["a.txt"]["text"]), b = str(m["b.txt"]["text"]);
  const size_t at = a.find("[EMAIL:");
  ASSERT_NE(at, std::string::npos) << a;
  const std::string tagA = a.substr(at, 24);
  EXPECT_EQ(tagA.back(), ']') << tagA;
  EXPECT_NE(b.find(tagA), std::string::npos) << "Ann@Example.com and ann@example.com hash alike: " << a << " / " << b;
  EXPECT_EQ(a.find("example"), std::string::npos);
  EXPECT_EQ(a.find("salt"), std::string::npos);

  // Another salt: other hashes, and the node is not served from the cache of the first.
  setenv("LOOM_TEST_PII_SALT", "another-salt-of-32-characters-ab", 1);
  run({hashed}, "rehashed");
  EXPECT_EQ(str(byName("rehashed")["a.txt"]["text"]).find(tagA), std::string::npos);
  unsetenv("LOOM_TEST_PII_SALT");
}

TEST_F(PiiNodes, LlmWithRefusePiiSendsNothingForRowsWithPersonalData) {
  test::ModelServer server({"--api-key", kKey});
  setenv("LOOM_TEST_KEY", kKey, 1);
  setenv("LOOM_TRUSTED_MODEL_HOSTS", "127.0.0.1", 1);
  file("clean1.txt", "The weather is nice.");
  file("clean2.txt", "Quarterly numbers went up.");
  file("email.txt", "Write to jane@example.org about it.");
  file("card.txt", "Charge 4111 1111 1111 1111 and call +44 20 7946 0958.");
  const json llm = {{"id", "m"},
                    {"type", "model.llm"},
                    {"params",
                     {{"model", "gpt-4o-mini"},
                      {"prompt", "Summarise: {{text}}"},
                      {"refuse_pii", true},
                      {"base_url", server.baseUrl()},
                      {"api_key_env", "LOOM_TEST_KEY"}}}};
  auto r = run({{{"type", "pii.detect"}}, llm});
  EXPECT_EQ(server.stats()["model_calls_ok"], 2) << "only the clean rows were sent";
  EXPECT_EQ(r.calls, 2);
  EXPECT_EQ(r.rowsFailed, 2);
  auto m = byName();
  EXPECT_EQ(str(m["email.txt"]["error"]), "personal data found by pii.detect (email); not sent");
  EXPECT_EQ(str(m["card.txt"]["error"]), "personal data found by pii.detect (credit_card,phone); not sent");
  EXPECT_TRUE(core::isNull(m["card.txt"]["answer"]));
  EXPECT_EQ(str(m["clean1.txt"]["answer"]), "Echo: Summarise: The weather is nice.");
  auto s = cat->db().prepare("SELECT count(*) FROM model_calls WHERE request_json LIKE '%jane@%' OR request_json LIKE '%4111%'");
  s.step();
  EXPECT_EQ(s.int64(0), 0) << "the ledger holds no request with the personal data";

  // Without pii.detect upstream there is nothing to refuse on: a validation error, not a silent send.
  const std::string msg = failure({llm});
  EXPECT_NE(msg.find("'refuse_pii'"), std::string::npos) << msg;
  EXPECT_EQ(server.stats()["model_calls_ok"], 2);
  unsetenv("LOOM_TEST_KEY");
  unsetenv("LOOM_TRUSTED_MODEL_HOSTS");
}

}  // namespace
