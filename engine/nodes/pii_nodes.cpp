// pii.detect, pii.redact: personal data in text columns, found by the scanners in text/pii.h.
// pii.redact's salted hashes use HMAC-SHA256 with a salt read from an environment variable the flow
// names (flows are data that people share; a salt in one would let anyone reverse the hashes of
// guessable values such as phone numbers).

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <set>

#include "core/hash.h"
#include "nodes/builtin_provider.h"
#include "nodes/text_support.h"
#include "text/encoding.h"
#include "text/pii.h"

namespace loom::nodes {

using core::ColumnType;
using core::ErrorKind;
using core::makeError;
using nlohmann::json;
using namespace textsupport;

namespace {

// pii_findings lists at most this many findings per row; pii_count counts them all.
constexpr size_t kMaxListedFindings = 1000;

const char* kConfidenceDoc =
    "Confidence, 0-1: 0.95 checksum-validated (a card number passing Luhn with a known issuer prefix; an IBAN "
    "of its country's length passing mod-97); 0.9 a deny-list term; 0.85 an e-mail address; 0.7 IPv4, IPv6, MAC "
    "addresses and international phone numbers (+ and 8-15 digits); 0.6 US SSNs (AAA-GG-SSSS outside the "
    "never-issued ranges) and North-American numbers written (NXX) NXX-XXXX, NXX-NXX-XXXX or NXX.NXX.XXXX. "
    "Known limits: version numbers such as 1.2.3.4 are reported as IPv4 unless v, version, release or build "
    "precedes them; national phone formats without + (030 1234567) and SSNs without dashes are not looked for; "
    "names and addresses are found only through deny_list.";

std::vector<ParamSpec> detectorParams() {
  ParamSpec minConf{"min_confidence", ParamType::Number, "findings below this confidence are ignored", false, 0.0};
  minConf.minimum = 0;
  minConf.maximum = 1;
  return {{"columns", ParamType::StringList, "text columns to scan, e.g. [\"text\", \"title\"]", false,
           json::array({"text"})},
          {"types", ParamType::StringList,
           "detectors to run, from: " + text::piiTypeNames() + " (empty list: all)", false, json::array()},
          {"deny_list", ParamType::StringList,
           "your own terms (names, project code words), e.g. [\"Falcon\", \"Ann Smith\"]; found "
           "case-insensitively as whole words and reported as deny_list",
           false, json::array()},
          minConf};
}

std::vector<std::string> list(const Params& p, const char* name) {
  std::vector<std::string> out;
  if (p.contains(name) && p[name].is_array())
    for (const auto& e : p[name])
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

struct Setup {
  std::vector<std::string> columns;
  text::PiiOptions options;
};

core::Result<Setup> setupFrom(const Params& p, const core::Schema& in) {
  Setup s;
  s.columns = list(p, "columns");
  if (s.columns.empty())
    return makeError(ErrorKind::InvalidFlow, "parameter 'columns' names no column; name the text columns to scan");
  for (const auto& c : s.columns)
    if (auto r = checkTextColumn("columns", c, in); !r.ok()) return r.error();
  const auto types = list(p, "types");
  if (!types.empty()) {
    std::fill(std::begin(s.options.enabled), std::end(s.options.enabled), false);
    for (const auto& t : types) {
      auto type = text::piiTypeFromName(t);
      if (!type)
        return makeError(ErrorKind::InvalidFlow,
                         "parameter 'types': '" + t + "' is not a detector; use some of: " + text::piiTypeNames());
      s.options.enabled[static_cast<int>(*type)] = true;
    }
  }
  for (auto& term : list(p, "deny_list"))
    if (term.find_first_not_of(" \t\r\n") != std::string::npos) s.options.denyTerms.push_back(std::move(term));
  if (s.options.denyTerms.size() > 10000)
    return makeError(ErrorKind::InvalidFlow, "parameter 'deny_list' has over 10,000 terms");
  if (!types.empty() && s.options.enabled[static_cast<int>(text::PiiType::DenyList)] && s.options.denyTerms.empty())
    return makeError(ErrorKind::InvalidFlow, "parameter 'types' asks for deny_list, but parameter 'deny_list' is empty");
  s.options.minConfidence = p.value("min_confidence", 0.0);
  return s;
}

std::string typeList(const std::set<std::string>& types) {
  std::string out;
  for (const auto& t : types) out += (out.empty() ? "" : ",") + t;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// pii.detect

class PiiDetect : public NodeType {
 public:
  std::string id() const override { return "pii.detect"; }
  std::string category() const override { return "Text"; }
  std::string title() const override { return "Detect personal data"; }
  std::string doc() const override {
    return "Finds personal data in text columns: e-mail addresses, phone numbers, payment card numbers, IBANs, "
           "IPv4/IPv6 and MAC addresses, US social security numbers, and the terms of your deny_list. Adds "
           "`pii_count` (findings in the row), `pii_types` (their types, comma-separated and sorted, e.g. "
           "\"email,phone\"; empty when none) and `pii_findings`, a JSON array with one object per finding: "
           "{\"type\", \"column\", \"start\", \"end\", \"confidence\", \"preview\"} where start/end are character "
           "offsets in that column's text and preview shows the first character and the last two (\"j***om\"), "
           "never the value; include_text adds the value itself as \"text\". At most 1,000 findings are listed "
           "per row (pii_count counts all). Example: filter with table.filter \"pii_count = 0\", or pass "
           "pii_count to model.llm with refuse_pii so that rows with personal data are never sent. " +
           std::string(kConfidenceDoc) +
           " Errors: a column that is missing or not text is a validation error naming 'columns'; a BLOB value "
           "is the row's error. NULL values are skipped. A row that failed upstream keeps its error.";
  }
  std::vector<ParamSpec> params() const override {
    auto ps = detectorParams();
    ps.push_back({"include_text", ParamType::Boolean,
                  "put each finding's full value into pii_findings (\"text\"); off by default so the output does not "
                  "copy the personal data",
                  false, false});
    return ps;
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto s = setupFrom(p, in[0]); !s.ok()) return s.error();
    core::Schema s = in[0];
    s.set({"pii_count", ColumnType::Integer, "personal-data findings in the row"});
    s.set({"pii_types", ColumnType::Text, "types found, comma-separated"});
    s.set({"pii_findings", ColumnType::Text, "JSON array of {type, column, start, end, confidence, preview}"});
    s.set({"error", ColumnType::Text, "why the row could not be scanned (or failed upstream); null when fine"});
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const Setup setup = setupFrom(p, ctx.inputs().at(0).schema).orThrow();
    const bool includeText = p.value("include_text", false);
    std::vector<size_t> cols;
    for (const auto& c : setup.columns) cols.push_back(static_cast<size_t>(out.indexOf(c)));
    const size_t iCount = static_cast<size_t>(out.indexOf("pii_count")), iTypes = static_cast<size_t>(out.indexOf("pii_types")),
                 iFindings = static_cast<size_t>(out.indexOf("pii_findings")), iErr = static_cast<size_t>(out.indexOf("error"));
    std::atomic<int64_t> withPii{0};
    MapSpec spec;
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      for (auto& row : batch)
        if (!core::isNull(row.values[iErr])) row.done = true;
    };
    spec.perRow = [&](RowBuffer& row) {
      int64_t count = 0;
      std::set<std::string> types;
      json findings = json::array();
      for (size_t k = 0; k < cols.size(); ++k) {
        std::string t;
        const Cell kind = cellText(row.values[cols[k]], t);
        if (kind == Cell::Binary) {
          row.values[iErr] = "column '" + setup.columns[k] + "' holds binary data (a BLOB), not text";
          return;
        }
        if (kind == Cell::Null) continue;
        for (const auto& f : text::findPii(t, setup.options)) {
          ++count;
          types.insert(text::piiTypeName(f.type));
          if (findings.size() >= kMaxListedFindings) continue;
          const std::string_view value = std::string_view(t).substr(f.start, f.end - f.start);
          json j = {{"type", text::piiTypeName(f.type)},
                    {"column", setup.columns[k]},
                    {"start", text::codePointsBefore(t, f.start)},
                    {"end", text::codePointsBefore(t, f.end)},
                    {"confidence", f.confidence},
                    {"preview", text::piiPreview(value)}};
          if (includeText) j["text"] = std::string(value);
          findings.push_back(std::move(j));
        }
      }
      row.values[iCount] = count;
      row.values[iTypes] = typeList(types);
      row.values[iFindings] = findings.dump(-1, ' ', false, json::error_handler_t::replace);
      if (count > 0) withPii.fetch_add(1);
    };
    ctx.mapRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": personal data in " + std::to_string(withPii.load()) + " rows");
  }
};

// ---------------------------------------------------------------------------------------------------
// pii.redact

std::string hmacHex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[mac[i] >> 4];
    out += digits[mac[i] & 15];
  }
  return out;
}

bool validEnvName(const std::string& n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

class PiiRedact : public NodeType {
 public:
  std::string id() const override { return "pii.redact"; }
  std::string category() const override { return "Text"; }
  std::string title() const override { return "Redact personal data"; }
  std::string doc() const override {
    return "Replaces personal data in text columns, in place, using the same detectors as pii.detect (see there for "
           "what is found and how sure each finding is). mode mask writes \"****\" (the length is not kept); mode "
           "tag writes the type, e.g. \"[EMAIL]\", \"[PHONE]\", \"[CREDIT_CARD]\", \"[DENY_LIST]\"; mode hash writes "
           "the type and the first 16 hex digits of an HMAC-SHA256 of the value, e.g. \"[EMAIL:3f2a9c0d51b7e4a8]\", "
           "so equal values give equal tags and joins and counts on redacted data still work. The value is "
           "canonicalised first (e-mail lower-cased, card and phone numbers as digits, IBAN without spaces), so "
           "\"+49 30 1234567\" and \"+49-30-1234567\" hash alike. The HMAC key (the salt) is read from the "
           "environment variable that salt_env names, never from the flow: keep it secret and the same across runs "
           "that must join, e.g. salt_env LOOM_PII_SALT with LOOM_PII_SALT set to 32 random characters. "
           "`pii_redacted` counts the replacements in the row. A pii_count column from an earlier pii.detect still "
           "describes the text before redaction. Errors: mode hash without salt_env (validation), the variable "
           "unset or empty (the run stops before any row); a BLOB value is the row's error.";
  }
  std::vector<ParamSpec> params() const override {
    auto ps = detectorParams();
    ParamSpec mode{"mode", ParamType::Enum, "mask (****), tag ([EMAIL]) or hash ([EMAIL:hmac])", false, "tag"};
    mode.choices = {"mask", "tag", "hash"};
    ps.push_back(mode);
    ps.push_back({"salt_env", ParamType::String,
                  "mode hash: name of the environment variable holding the HMAC key (e.g. LOOM_PII_SALT); the "
                  "key itself never goes into a flow",
                  false, ""});
    return ps;
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto s = setupFrom(p, in[0]); !s.ok()) return s.error();
    const std::string salt = p.value("salt_env", std::string());
    if (p.value("mode", std::string("tag")) == "hash" && salt.empty())
      return makeError(ErrorKind::InvalidFlow, "parameter 'salt_env': mode hash needs the name of an environment "
                                               "variable holding the HMAC key, e.g. LOOM_PII_SALT");
    if (!salt.empty() && !validEnvName(salt))
      return makeError(ErrorKind::InvalidFlow, "parameter 'salt_env' must name an environment variable (letters, "
                                               "digits, '_'), e.g. LOOM_PII_SALT; the salt itself never goes into a flow");
    core::Schema s = in[0];
    s.set({"pii_redacted", ColumnType::Integer, "personal-data findings replaced in the row"});
    s.set({"error", ColumnType::Text, "why the row could not be redacted (or failed upstream); null when fine"});
    return s;
  }
  // A changed salt must not reuse output hashed with the old one: the cache key covers a digest of it.
  core::Result<std::string> runtimeKey(const Params& p, catalog::Catalog&) const override {
    if (p.value("mode", std::string("tag")) != "hash") return std::string();
    auto salt = readSalt(p);
    if (!salt.ok()) return salt.error();
    return core::sha256Hex("loom.pii.salt/1:" + *salt);
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const Setup setup = setupFrom(p, ctx.inputs().at(0).schema).orThrow();
    const std::string mode = p.value("mode", std::string("tag"));
    std::string salt;
    if (mode == "hash") {
      auto s = readSalt(p);
      if (!s.ok()) throw core::RunError(s.error());
      salt = *s;
      if (salt.size() < 16)
        ctx.feedback().warning(ctx.nodeId() + ": the salt in $" + p.value("salt_env", std::string()) + " has " +
                               std::to_string(salt.size()) +
                               " characters; use 16 or more random ones, or guessable values can be found by trying");
    }
    std::vector<size_t> cols;
    for (const auto& c : setup.columns) cols.push_back(static_cast<size_t>(out.indexOf(c)));
    const size_t iCount = static_cast<size_t>(out.indexOf("pii_redacted")), iErr = static_cast<size_t>(out.indexOf("error"));
    auto replacement = [&](text::PiiType type, std::string_view value) {
      if (mode == "mask") return std::string("****");
      std::string tag = text::piiTypeName(type);
      std::transform(tag.begin(), tag.end(), tag.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
      if (mode == "tag") return "[" + tag + "]";
      const std::string h = hmacHex(salt, std::string(text::piiTypeName(type)) + ":" + text::piiCanonical(type, value));
      return "[" + tag + ":" + h.substr(0, 16) + "]";
    };
    std::atomic<int64_t> redacted{0};
    MapSpec spec;
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      for (auto& row : batch)
        if (!core::isNull(row.values[iErr])) row.done = true;
    };
    spec.perRow = [&](RowBuffer& row) {
      int64_t count = 0;
      std::vector<std::pair<size_t, std::string>> updates;
      for (size_t k = 0; k < cols.size(); ++k) {
        if (!std::holds_alternative<std::string>(row.values[cols[k]])) {
          if (std::holds_alternative<core::BlobValue>(row.values[cols[k]])) {
            row.values[iErr] = "column '" + setup.columns[k] + "' holds binary data (a BLOB), not text";
            return;
          }
          continue;  // NULL, or a number: left as it is
        }
        const std::string& t = std::get<std::string>(row.values[cols[k]]);
        const auto findings = text::findPii(t, setup.options);
        if (findings.empty()) continue;
        std::string r;
        size_t at = 0;
        for (const auto& f : findings) {
          r.append(t, at, f.start - at);
          r += replacement(f.type, std::string_view(t).substr(f.start, f.end - f.start));
          at = f.end;
        }
        r.append(t, at);
        count += static_cast<int64_t>(findings.size());
        updates.emplace_back(cols[k], std::move(r));
      }
      for (auto& [idx, v] : updates) row.values[idx] = std::move(v);
      row.values[iCount] = count;
      redacted.fetch_add(count);
    };
    ctx.mapRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(redacted.load()) + " findings redacted");
  }

 private:
  static core::Result<std::string> readSalt(const Params& p) {
    const std::string env = p.value("salt_env", std::string());
    const char* v = env.empty() ? nullptr : std::getenv(env.c_str());
    if (!v || !*v)
      return makeError(ErrorKind::InvalidInput,
                       "pii.redact mode hash: the environment variable " + (env.empty() ? std::string("(salt_env)") : env) +
                           " is not set; set it to a secret of 16 or more random characters (the same in every run "
                           "whose hashes must match)");
    return std::string(v);
  }
};

}  // namespace

void addPiiNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<PiiDetect>());
  registry.add(std::make_shared<PiiRedact>());
}

}  // namespace loom::nodes
