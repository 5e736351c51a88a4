#include "storage/s3_storage.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "core/hash.h"
#include "storage/backends.h"
#include "storage/glob.h"
#include "storage/http_client.h"
#include "storage/uri.h"

namespace loom::storage {

using core::Error;
using core::ErrorKind;
using core::Result;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

std::string homeDir() { return env("HOME"); }

// An AWS-style INI file: section -> key -> value. Lines indented under a `key =` line with no value
// (such as `s3 =`) become "key.sub" entries, as the AWS CLI nests S3 settings.
using Ini = std::map<std::string, std::map<std::string, std::string>>;

Ini readIni(const std::string& path) {
  Ini ini;
  std::ifstream f(path);
  if (!f) return ini;
  std::string line, section, nest;
  while (std::getline(f, line)) {
    const bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      section = trim(std::string_view(t).substr(1, t.size() - 2));
      nest.clear();
      continue;
    }
    const size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(std::string_view(t).substr(0, eq));
    const std::string value = trim(std::string_view(t).substr(eq + 1));
    if (indented && !nest.empty()) {
      ini[section][nest + "." + key] = value;
    } else if (value.empty()) {
      nest = key;
    } else {
      nest.clear();
      ini[section][key] = value;
    }
  }
  return ini;
}

std::string masked(const std::string& accessKey) {
  if (accessKey.size() <= 8) return "…";
  return accessKey.substr(0, 4) + "…" + accessKey.substr(accessKey.size() - 4);
}

bool dnsCompatible(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return bucket.front() != '-' && bucket.back() != '-';
}

std::string lastSegment(std::string_view key) {
  while (!key.empty() && key.back() == '/') key.remove_suffix(1);
  const size_t slash = key.rfind('/');
  return std::string(slash == std::string_view::npos ? key : key.substr(slash + 1));
}

int envInt(const char* name, int fallback, int lo, int hi) {
  const std::string v = env(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (end == v.c_str() || *end) return fallback;
  return static_cast<int>(std::clamp<long>(n, lo, hi));
}

}  // namespace

S3Settings resolveS3Settings(std::string_view scheme, std::string* problem) {
  S3Settings s;
  s.scheme = std::string(scheme);
  s.listConcurrency = envInt("LOOM_S3_LIST_CONCURRENCY", 8, 1, 64);
  auto complain = [&](const std::string& p) {
    if (problem) *problem += (problem->empty() ? "" : "; ") + p;
  };

  if (scheme == "gs") {
    s.region = "auto";
    s.pathStyle = true;
    s.endpoint = env("GS_ENDPOINT_URL");
    if (s.endpoint.empty()) s.endpoint = "https://storage.googleapis.com";
    const std::string id = env("GS_ACCESS_KEY_ID"), secret = env("GS_SECRET_ACCESS_KEY");
    if (!id.empty() && !secret.empty()) {
      s.accessKey = id;
      s.secretKey = secret;
      s.credentialSource = "environment (GS_ACCESS_KEY_ID)";
    } else if (!id.empty() || !secret.empty()) {
      complain("only one of GS_ACCESS_KEY_ID and GS_SECRET_ACCESS_KEY is set; set both (an HMAC key pair)");
    }
    while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
    return s;
  }

  std::string profile = env("AWS_PROFILE");
  if (profile.empty()) profile = env("AWS_DEFAULT_PROFILE");
  const bool profileNamed = !profile.empty();
  if (profile.empty()) profile = "default";
  std::string credPath = env("AWS_SHARED_CREDENTIALS_FILE");
  if (credPath.empty() && !homeDir().empty()) credPath = homeDir() + "/.aws/credentials";
  std::string configPath = env("AWS_CONFIG_FILE");
  if (configPath.empty() && !homeDir().empty()) configPath = homeDir() + "/.aws/config";
  const Ini creds = readIni(credPath);
  const Ini config = readIni(configPath);
  const std::string configSection = profile == "default" ? "default" : "profile " + profile;
  const auto credIt = creds.find(profile);
  const auto confIt = config.find(configSection);
  auto fromProfile = [&](const std::string& key) -> std::string {
    if (credIt != creds.end()) {
      if (auto k = credIt->second.find(key); k != credIt->second.end()) return k->second;
    }
    if (confIt != config.end()) {
      if (auto k = confIt->second.find(key); k != confIt->second.end()) return k->second;
    }
    return {};
  };
  if (profileNamed && credIt == creds.end() && confIt == config.end()) {
    complain("AWS_PROFILE names the profile '" + profile + "', which is in neither " + credPath + " nor " +
             configPath);
  }

  // Credentials: environment, then the profile.
  const std::string id = env("AWS_ACCESS_KEY_ID"), secret = env("AWS_SECRET_ACCESS_KEY");
  if (!id.empty() && !secret.empty()) {
    s.accessKey = id;
    s.secretKey = secret;
    s.sessionToken = env("AWS_SESSION_TOKEN");
    s.credentialSource = "environment (AWS_ACCESS_KEY_ID)";
  } else {
    if (!id.empty() || !secret.empty()) {
      complain("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set; set both");
    }
    const std::string pid = fromProfile("aws_access_key_id"), psecret = fromProfile("aws_secret_access_key");
    if (!pid.empty() && !psecret.empty()) {
      s.accessKey = pid;
      s.secretKey = psecret;
      s.sessionToken = fromProfile("aws_session_token");
      s.credentialSource = "profile '" + profile + "' (" + (credIt != creds.end() ? credPath : configPath) + ")";
    }
  }

  if (std::string r = env("AWS_REGION"); !r.empty()) s.region = r;
  else if (std::string d = env("AWS_DEFAULT_REGION"); !d.empty()) s.region = d;
  else if (std::string p = fromProfile("region"); !p.empty()) s.region = p;

  s.endpoint = env("AWS_ENDPOINT_URL_S3");
  if (s.endpoint.empty()) s.endpoint = env("AWS_ENDPOINT_URL");
  if (s.endpoint.empty()) s.endpoint = fromProfile("s3.endpoint_url");
  if (s.endpoint.empty()) s.endpoint = fromProfile("endpoint_url");
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  const std::string style = fromProfile("s3.addressing_style");
  s.pathStyle = style == "path" || (!s.endpoint.empty() && style != "virtual");
  return s;
}

struct S3Storage::Target {
  std::string bucket;
  std::string key;         // decoded
  std::string encodedKey;  // as in URIs and request paths
};

S3Storage::S3Storage(S3Settings settings, std::string settingsProblem)
    : m_settings(std::move(settings)), m_problem(std::move(settingsProblem)) {
  // Two endpoints may both have a bucket of the same name: their objects are cached apart.
  setCacheNamespace(m_settings.scheme + " " + m_settings.endpoint);
}

Result<S3Storage::Target> S3Storage::parse(const std::string& uri) const {
  const std::string prefix = m_settings.scheme + "://";
  if (uri.size() <= prefix.size() || uri.compare(0, prefix.size(), prefix) != 0) {
    return Error{ErrorKind::InvalidInput, "'" + sanitizeUtf8(uri) + "' is not a " + prefix + "bucket/key URI"};
  }
  const std::string rest = uri.substr(prefix.size());
  const size_t slash = rest.find('/');
  Target t;
  t.bucket = rest.substr(0, slash);
  const std::string rawKey = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  if (t.bucket.empty()) {
    return Error{ErrorKind::InvalidInput, "'" + sanitizeUtf8(uri) + "' names no bucket (expected " + prefix +
                                              "bucket/prefix)"};
  }
  auto key = percentDecode(rawKey);
  if (!key) {
    return Error{ErrorKind::InvalidInput,
                 "'" + sanitizeUtf8(uri) + "' has a malformed %-escape (write '%' as %25)"};
  }
  t.key = *key;
  t.encodedKey = percentEncodePath(t.key);
  return t;
}

std::string S3Storage::regionFor(const std::string& bucket) const {
  std::lock_guard lock(m_regionMutex);
  if (auto it = m_bucketRegion.find(bucket); it != m_bucketRegion.end()) return it->second;
  return m_settings.region;
}

Result<http::Response> S3Storage::send(const std::string& method, const std::string& bucket,
                                       const std::string& encodedKey, const std::string& query, std::string body,
                                       std::vector<std::string> headers, const std::string& action,
                                       const std::string& shownUri, core::Feedback* feedback) {
  const std::string payloadHash = core::sha256Hex(body);
  for (int round = 0; round < 2; ++round) {
    const std::string region = regionFor(bucket);
    http::Request req;
    req.method = method;
    // The endpoint comes from the person's configuration (environment, config files), never a flow.
    req.purpose = net::Purpose::Configured;
    const bool pathStyle = m_settings.pathStyle || (m_settings.endpoint.empty() && !dnsCompatible(bucket));
    std::string base;
    if (!m_settings.endpoint.empty()) {
      base = m_settings.endpoint;
      if (!pathStyle) {
        const size_t hostStart = base.find("://");
        base.insert(hostStart == std::string::npos ? 0 : hostStart + 3, bucket + ".");
      }
    } else {
      base = pathStyle ? "https://s3." + region + ".amazonaws.com" : "https://" + bucket + ".s3." + region + ".amazonaws.com";
    }
    req.url = base + (pathStyle ? "/" + percentEncode(bucket, false) : std::string()) + "/" + encodedKey;
    if (!query.empty()) req.url += "?" + query;
    req.headers = headers;
    // S3 requires the payload hash header; libcurl signs every x-amz-* header it is given.
    req.headers.push_back("x-amz-content-sha256: " + payloadHash);
    if (!m_settings.accessKey.empty()) {
      req.awsSigV4 = "aws:amz:" + region + ":s3";
      req.awsCredentials = m_settings.accessKey + ":" + m_settings.secretKey;
      if (!m_settings.sessionToken.empty()) req.headers.push_back("x-amz-security-token: " + m_settings.sessionToken);
    }
    req.body = body;
    auto r = http::perform(req, {}, feedback);
    if (!r.ok()) {
      return Error{r.error().kind, action + " " + shownUri + ": " + r.error().message};
    }
    // A bucket in another region: S3 says which (header or XML), once; remember it and go again.
    if (round == 0 && (r->status == 301 || r->status == 400)) {
      std::string actual = r->header("x-amz-bucket-region");
      if (actual.empty()) actual = http::firstElement(r->body, "Region");
      if (!actual.empty() && actual != region) {
        std::lock_guard lock(m_regionMutex);
        m_bucketRegion[bucket] = actual;
        continue;
      }
    }
    return std::move(r).value();
  }
  return Error{ErrorKind::Internal, "unreachable"};
}

core::Error S3Storage::describe(const http::Response& r, const std::string& action, const std::string& shownUri) const {
  const std::string code = http::firstElement(r.body, "Code");
  const std::string message = http::firstElement(r.body, "Message");
  const bool anonymous = m_settings.accessKey.empty();
  const std::string who = anonymous ? std::string("without credentials")
                                    : "with the access key " + masked(m_settings.accessKey) + " from " +
                                          m_settings.credentialSource;
  std::string text;
  ErrorKind kind = ErrorKind::Io;
  const std::string detail = code.empty() ? "HTTP " + std::to_string(r.status)
                                          : "HTTP " + std::to_string(r.status) + " " + code +
                                                (message.empty() ? "" : ": " + message);
  if (code == "ExpiredToken" || code == "TokenRefreshRequired") {
    kind = ErrorKind::PermissionDenied;
    text = action + " " + shownUri + " refused: the session token from " + m_settings.credentialSource +
           " has expired; get fresh credentials (aws sso login, a new AWS_SESSION_TOKEN) and run again";
  } else if (code == "InvalidAccessKeyId") {
    kind = ErrorKind::PermissionDenied;
    text = action + " " + shownUri + " refused: the endpoint does not know the access key " +
           masked(m_settings.accessKey) + " from " + m_settings.credentialSource;
  } else if (code == "SignatureDoesNotMatch") {
    kind = ErrorKind::PermissionDenied;
    text = action + " " + shownUri + " refused: the secret key from " + m_settings.credentialSource +
           " does not match the access key " + masked(m_settings.accessKey) + " (" + detail + ")";
  } else if (r.status == 403 || r.status == 401) {
    kind = ErrorKind::PermissionDenied;
    text = action + " " + shownUri + ": access denied " + who + " (" + detail + ")";
    if (anonymous) {
      text += "; no credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE";
      if (m_settings.scheme == "gs") text = action + " " + shownUri + ": access denied without credentials (" + detail +
                                            "); set GS_ACCESS_KEY_ID and GS_SECRET_ACCESS_KEY (an HMAC key)";
    }
  } else if (code == "NoSuchBucket") {
    kind = ErrorKind::NotFound;
    const Target t = parse(shownUri).ok() ? parse(shownUri).value() : Target{};
    text = "bucket '" + t.bucket + "' does not exist" +
           (m_settings.endpoint.empty() ? std::string() : " at " + m_settings.endpoint) + " (" + shownUri + ")";
  } else if (r.status == 404) {
    kind = ErrorKind::NotFound;
    text = "no object " + shownUri + (code.empty() || code == "NoSuchKey" ? std::string() : " (" + detail + ")");
  } else if (r.status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
             code == "IllegalLocationConstraintException") {
    const std::string region = http::firstElement(r.body, "Region");
    text = action + " " + shownUri + ": the bucket is in another region" +
           (region.empty() ? std::string() : " (" + region + ")") + " than " + m_settings.region +
           "; set AWS_REGION" + (region.empty() ? std::string() : "=" + region) + " (" + detail + ")";
  } else {
    text = action + " " + shownUri + " failed: " + detail +
           (r.attempts > 1 ? " after " + std::to_string(r.attempts) + " attempts" : std::string());
  }
  if (!m_problem.empty()) text += " [settings: " + m_problem + "]";
  return Error{kind, text};
}

Result<ObjectInfo> S3Storage::stat(const std::string& uri) {
  auto t = parse(uri);
  if (!t.ok()) return t.error();
  if (t->key.empty() || t->key.back() == '/') {
    return Error{ErrorKind::InvalidInput, uri + " is a bucket or prefix, not an object (list it instead)"};
  }
  auto r = send("HEAD", t->bucket, t->encodedKey, "", "", {}, "HEAD", uri);
  if (!r.ok()) return r.error();
  const auto& resp = r.value();
  if (resp.status != 200) return describe(r.value(), "HEAD", uri);
  ObjectInfo info;
  info.uri = m_settings.scheme + "://" + t->bucket + "/" + t->encodedKey;
  info.name = sanitizeUtf8(lastSegment(t->key));
  info.etag = http::unquoteEtag(resp.header("etag"));
  const std::string len = resp.header("content-length");
  info.size = len.empty() ? -1 : std::strtoll(len.c_str(), nullptr, 10);
  info.mtimeNs = http::parseHttpDate(resp.header("last-modified")).value_or(0) * 1'000'000'000;
  remember(info);
  return info;
}

Result<Fetched> S3Storage::fetch(const std::string& uri, const std::string& etag, int64_t offset, int64_t length) {
  auto t = parse(uri);
  if (!t.ok()) return t.error();
  std::vector<std::string> headers{"Range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)};
  if (!etag.empty()) headers.push_back("If-Match: \"" + etag + "\"");
  auto r = send("GET", t->bucket, t->encodedKey, "", "", std::move(headers), "GET", uri);
  if (!r.ok()) return r.error();
  auto& resp = r.value();
  Fetched out;
  if (resp.status == 412) {
    out.changed = true;
    return out;
  }
  if (resp.status == 416) return out;
  if (resp.status != 206 && resp.status != 200) return describe(r.value(), "GET", uri);
  out.etag = http::unquoteEtag(resp.header("etag"));
  if (!etag.empty() && !out.etag.empty() && out.etag != etag) {
    out.changed = true;  // a server that ignores If-Match
    return out;
  }
  if (resp.status == 200) {
    // The whole object came back (the server ignored Range): keep the part asked for.
    out.totalSize = static_cast<int64_t>(resp.body.size());
    out.bytes = offset < out.totalSize ? resp.body.substr(static_cast<size_t>(offset), static_cast<size_t>(length)) : "";
  } else {
    out.bytes = std::move(resp.body);
    const std::string range = resp.header("content-range");
    if (const size_t slash = range.rfind('/'); slash != std::string::npos) {
      out.totalSize = std::strtoll(range.c_str() + slash + 1, nullptr, 10);
    }
  }
  return out;
}

Result<ListObjectsV2Page> parseListObjectsV2Page(std::string_view xml, const std::string& uriPrefix) {
  // A 200 from something that is not S3 (a captive portal, a proxy's HTML page) must not read as an
  // empty bucket.
  if (xml.find("<ListBucketResult") == std::string_view::npos) {
    std::string start = sanitizeUtf8(xml.substr(0, 80));
    std::replace(start.begin(), start.end(), '\n', ' ');
    return Error{ErrorKind::Corrupt, "the answer is not a ListObjectsV2 result (" + std::to_string(xml.size()) +
                                         " bytes" + (start.empty() ? std::string() : ", starting '" + start + "'") +
                                         "); is the endpoint an S3-compatible server?"};
  }
  // A page cut short (a proxy or connection that ended the body early without an error) would
  // otherwise drop the objects it lost without a word.
  if (xml.find("</ListBucketResult>") == std::string_view::npos) {
    return Error{ErrorKind::Corrupt, "the answer is cut short (" + std::to_string(xml.size()) +
                                         " bytes, no </ListBucketResult> at the end); try again"};
  }
  ListObjectsV2Page page;
  http::forEachElement(xml, "Contents", [&](std::string_view c) {
    ++page.rawCount;
    ListObjectsV2Entry e;
    e.key = http::firstElement(c, "Key");
    if (e.key.empty()) return;
    const std::string size = http::firstElement(c, "Size");
    e.folderMarker = e.key.back() == '/' && size == "0";
    e.object.uri = uriPrefix + percentEncodePath(e.key);
    e.object.name = sanitizeUtf8(lastSegment(e.key));
    e.object.etag = http::unquoteEtag(http::firstElement(c, "ETag"));
    e.object.size = size.empty() ? -1 : std::max<int64_t>(-1, std::strtoll(size.c_str(), nullptr, 10));
    e.object.mtimeNs = http::parseIsoTimeNs(http::firstElement(c, "LastModified")).value_or(0);
    page.entries.push_back(std::move(e));
  });
  http::forEachElement(xml, "CommonPrefixes", [&](std::string_view c) {
    page.prefixes.push_back(http::firstElement(c, "Prefix"));
    ++page.rawCount;
  });
  if (http::firstElement(xml, "IsTruncated") == "true") {
    page.nextToken = http::firstElement(xml, "NextContinuationToken");
    if (page.nextToken.empty()) {
      return Error{ErrorKind::Corrupt, "the server said there is more but gave no continuation token"};
    }
  }
  return page;
}

namespace {

// One ListObjectsV2 page, parsed.
struct Page {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> keys;       // decoded keys, parallel to objects
  std::vector<std::string> prefixes;   // common prefixes (with delimiter)
  std::string next;                    // continuation token; empty when this was the last page
  std::string lastKey;                 // the page's last key, whether or not the glob kept it
  int64_t rawCount = 0;                // keys and prefixes on the page, before the glob
};

// Query strings are built already in SigV4's canonical form (sorted names, strict encoding), so
// the signature libcurl computes over them is the one S3 recomputes.
std::string listQuery(const std::string& prefix, bool delimit, const std::string& token, int pageSize,
                      const std::string& startAfter) {
  std::string q;
  if (!token.empty()) q += "continuation-token=" + percentEncode(token, false) + "&";
  if (delimit) q += "delimiter=%2F&";
  q += "list-type=2&max-keys=" + std::to_string(pageSize) + "&prefix=" + percentEncode(prefix, false);
  if (token.empty() && !startAfter.empty()) q += "&start-after=" + percentEncode(startAfter, false);
  return q;
}

}  // namespace

Result<void> S3Storage::list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                             core::Feedback* feedback) {
  auto target = parse(prefixUri);
  if (!target.ok()) return target.error();
  const std::string bucket = target->bucket;
  std::string base = target->key;
  if (!base.empty() && base.back() != '/') base.push_back('/');
  const Glob glob(options.glob);
  const std::string uriPrefix = m_settings.scheme + "://" + bucket + "/";

  // One page of `prefix` (delimited or not), parsed into objects that pass the glob.
  auto fetchPage = [&](const std::string& prefix, bool delimit, const std::string& token,
                       const std::string& startAfter = {}, core::Feedback* via = nullptr) -> Result<Page> {
    auto r = send("GET", bucket, "", listQuery(prefix, delimit, token, m_settings.pageSize, startAfter), "", {},
                  "ListObjectsV2", uriPrefix + percentEncodePath(prefix), via ? via : feedback);
    if (!r.ok()) return r.error();
    if (r->status != 200) return describe(r.value(), "ListObjectsV2", uriPrefix + percentEncodePath(prefix));
    auto parsed = parseListObjectsV2Page(r->body, uriPrefix);
    if (!parsed.ok()) {
      return Error{parsed.error().kind,
                   "ListObjectsV2 " + uriPrefix + percentEncodePath(prefix) + ": " + parsed.error().message};
    }
    Page page;
    page.rawCount = parsed->rawCount;
    page.prefixes = std::move(parsed->prefixes);
    page.next = std::move(parsed->nextToken);
    for (auto& e : parsed->entries) {
      page.lastKey = e.key;
      if (e.folderMarker || e.key.size() < base.size()) continue;
      if (!glob.matches(std::string_view(e.key).substr(base.size()))) continue;
      page.objects.push_back(std::move(e.object));
      page.keys.push_back(std::move(e.key));
    }
    return page;
  };

  bool stopped = false;
  auto emit = [&](ObjectInfo&& o) {
    if (stopped) return false;
    remember(o);
    if (!sink(std::move(o)) || (feedback && feedback->isCancelled())) stopped = true;
    return !stopped;
  };

  // The level under `base`, by delimiter: its objects (streamed out now when not recursive) and the
  // prefixes below it. A "segment" is an object or a prefix, in key order.
  struct Segment {
    std::string key;
    bool isPrefix = false;
    ObjectInfo object;
    std::string startAfter;  // a prefix the first page already went into: list it from here
  };
  std::vector<Segment> segments;
  int64_t seen = 0;
  bool discover = true;
  std::string after;  // keys up to here were handed on from the first page
  std::string firstToken;
  if (options.recursive) {
    // One plain page first: its objects go out at once (a person sees rows after one round trip,
    // however slow the server is at delimiter listings), and a listing that fits on it is done.
    auto first = fetchPage(base, false, "");
    if (!first.ok()) return first.error();
    firstToken = first->next;
    seen += first->rawCount;
    for (auto& o : first->objects) {
      if (!emit(std::move(o))) return {};
    }
    if (first->next.empty() && seen > 0) return {};
    after = first->lastKey;
    if (seen == 0) discover = false;  // nothing under the prefix: maybe it names one object (below)
  }
  if (options.recursive && seen > 0) {
    // While the prefixes below are discovered (a delimiter listing, which some servers answer
    // slowly: s3rver walks every key for it), the plain listing goes on page by page; the fan-out
    // then starts from wherever it has got to. Should discovery fail, the plain listing just goes on.
    std::vector<Page> level;
    std::optional<Error> levelError;
    std::atomic<bool> levelDone{false};
    core::Feedback stopLevel;
    std::thread levelThread([&] {
      std::string tok;
      do {
        auto page = fetchPage(base, true, tok, {}, &stopLevel);
        if (!page.ok()) {
          levelError = page.error();
          break;
        }
        tok = page->next;
        level.push_back(std::move(page).value());
      } while (!tok.empty() && !stopLevel.isCancelled());
      levelDone = true;
    });
    std::string token = firstToken;
    auto plainPage = [&]() -> Result<void> {
      auto page = fetchPage(base, false, token);
      if (!page.ok()) return page.error();
      seen += page->rawCount;
      for (auto& o : page->objects) {
        if (!emit(std::move(o))) break;
      }
      after = page->lastKey;
      token = page->next;
      return {};
    };
    Result<void> plain;
    while (!levelDone && !token.empty() && !stopped && plain.ok()) plain = plainPage();
    if (token.empty() || stopped || !plain.ok()) stopLevel.cancel();
    levelThread.join();
    if (!plain.ok()) return plain.error();
    if (token.empty() || stopped) return {};
    if (levelError || stopLevel.isCancelled()) {
      while (!token.empty() && !stopped && plain.ok()) plain = plainPage();
      return plain;
    }
    for (auto& page : level) {
      for (size_t i = 0; i < page.objects.size(); ++i) {
        if (page.keys[i] > after) segments.push_back({page.keys[i], false, std::move(page.objects[i]), {}});
      }
      for (auto& p : page.prefixes) {
        if (after.starts_with(p)) segments.push_back({std::move(p), true, {}, after});  // partly handed on
        else if (p > after) segments.push_back({std::move(p), true, {}, {}});
      }
    }
    discover = false;
  }
  std::string levelToken;
  while (discover && !stopped) {
    auto page = fetchPage(base, true, levelToken);
    if (!page.ok()) return page.error();
    seen += page->rawCount;
    for (size_t i = 0; i < page->objects.size(); ++i) {
      if (!options.recursive) {
        if (!emit(std::move(page->objects[i]))) return {};
      } else if (page->keys[i] > after) {
        segments.push_back({page->keys[i], false, std::move(page->objects[i]), {}});
      }
    }
    if (options.recursive) {
      for (auto& p : page->prefixes) {
        if (after.starts_with(p)) segments.push_back({std::move(p), true, {}, after});  // partly handed on
        else if (p > after) segments.push_back({std::move(p), true, {}, {}});
      }
    }
    levelToken = page->next;
    if (levelToken.empty()) break;
  }

  // Nothing under "dir/": maybe "dir" is itself an object.
  if (seen == 0 && !target->key.empty() && target->key.back() != '/') {
    auto one = stat(prefixUri);
    if (one.ok()) {
      if (glob.empty() || glob.matches(one->name)) emit(std::move(one).value());
      return {};
    }
    if (one.error().kind != ErrorKind::NotFound) return one.error();
    return Error{ErrorKind::NotFound, "nothing at " + prefixUri + ": no object has that name and none is under it"};
  }
  if (!options.recursive || stopped) return {};
  std::sort(segments.begin(), segments.end(), [](const Segment& a, const Segment& b) { return a.key < b.key; });

  // Each prefix is listed (recursively, without delimiter) by a pool of workers, at most `window`
  // segments ahead of the one being handed to the sink; pages are handed on as they arrive, in key
  // order, so the first objects reach the catalog after one round trip.
  struct Buffer {
    std::deque<std::vector<ObjectInfo>> pages;
    bool done = false;
    std::string error;
  };
  std::vector<Buffer> buffers(segments.size());
  std::mutex mutex;
  std::condition_variable changed;
  size_t nextToList = 0;
  size_t emitting = 0;
  std::atomic<bool> stop{false};
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(1, m_settings.listConcurrency)),
                                          static_cast<size_t>(std::count_if(segments.begin(), segments.end(),
                                                                            [](const Segment& s) { return s.isPrefix; })));
  const size_t window = std::max<size_t>(workers * 4, 8);

  // How many prefixes are listed at once adapts to the server: start with one, double while each
  // step brings at least 20% more objects per second, and settle on the best level. A distant
  // server (S3 at 20-100 ms a page) climbs to the maximum; a local one that is busy with one
  // request (an emulator on the same cores) stays low, where more requests only queue.
  size_t active = 0;
  size_t permits = 1;
  bool settled = workers <= 1;
  double previousRate = 0;
  size_t bestPermits = 1;
  int64_t windowObjects = 0;
  int windowPages = 0;
  auto windowStart = std::chrono::steady_clock::now();
  auto measure = [&](size_t objects) {  // called with `mutex` held
    if (settled) return;
    windowObjects += static_cast<int64_t>(objects);
    if (++windowPages < static_cast<int>(std::max<size_t>(4, 2 * permits))) return;
    const auto now = std::chrono::steady_clock::now();
    const double rate = static_cast<double>(windowObjects) / std::max(1e-6, std::chrono::duration<double>(now - windowStart).count());
    if (rate > previousRate * 1.2 && permits < workers) {
      bestPermits = permits;
      previousRate = rate;
      permits = std::min(workers, permits * 2);
    } else {
      if (rate > previousRate) bestPermits = permits;
      permits = bestPermits;
      settled = true;
    }
    windowObjects = 0;
    windowPages = 0;
    windowStart = now;
    changed.notify_all();
  };

  auto work = [&] {
    while (true) {
      size_t i;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] {
          while (nextToList < segments.size() && !segments[nextToList].isPrefix) ++nextToList;
          return stop.load() || nextToList >= segments.size() ||
                 (nextToList < emitting + window && active < permits);
        });
        if (stop.load() || nextToList >= segments.size()) return;
        i = nextToList++;
        ++active;
      }
      std::string token;
      do {
        auto page = fetchPage(segments[i].key, false, token, segments[i].startAfter);
        std::lock_guard lock(mutex);
        if (!page.ok()) {
          buffers[i].error = page.error().message;
          break;
        }
        measure(page->objects.size());
        buffers[i].pages.push_back(std::move(page->objects));
        token = page->next;
        changed.notify_all();
      } while (!token.empty() && !stop.load() && !(feedback && feedback->isCancelled()));
      std::lock_guard lock(mutex);
      buffers[i].done = true;
      --active;
      changed.notify_all();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers);
  for (size_t w = 0; w < workers; ++w) pool.emplace_back(work);
  struct Joiner {
    std::vector<std::thread>& pool;
    std::atomic<bool>& stop;
    std::condition_variable& changed;
    std::mutex& mutex;
    ~Joiner() {
      {
        std::lock_guard lock(mutex);
        stop = true;
      }
      changed.notify_all();
      for (auto& t : pool) t.join();
    }
  } joiner{pool, stop, changed, mutex};

  for (size_t i = 0; i < segments.size() && !stopped; ++i) {
    {
      std::lock_guard lock(mutex);
      emitting = i;
    }
    changed.notify_all();
    if (!segments[i].isPrefix) {
      emit(std::move(segments[i].object));
      continue;
    }
    while (!stopped) {
      std::vector<ObjectInfo> page;
      std::string error;
      bool finished = false;
      {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, std::chrono::milliseconds(200), [&] { return !buffers[i].pages.empty() || buffers[i].done; });
        if (feedback && feedback->isCancelled()) stopped = true;
        if (!buffers[i].pages.empty()) {
          page = std::move(buffers[i].pages.front());
          buffers[i].pages.pop_front();
        } else if (buffers[i].done) {
          finished = true;
          error = buffers[i].error;
        }
      }
      for (auto& o : page) {
        if (!emit(std::move(o))) break;
      }
      if (finished) {
        if (!error.empty()) {
          ObjectInfo bad;
          bad.uri = uriPrefix + percentEncodePath(segments[i].key);
          bad.name = sanitizeUtf8(lastSegment(segments[i].key));
          bad.error = "could not list everything under this prefix: " + error;
          emit(std::move(bad));
        }
        break;
      }
    }
  }
  return {};
}

Result<void> S3Storage::write(const std::string& uri, std::string_view bytes) {
  auto t = parse(uri);
  if (!t.ok()) return t.error();
  if (t->key.empty() || t->key.back() == '/') {
    return Error{ErrorKind::InvalidInput, uri + " names a bucket or prefix; an object needs a key"};
  }
  const std::vector<std::string> type{"Content-Type: application/octet-stream"};
  if (static_cast<int64_t>(bytes.size()) <= m_settings.multipartAbove) {
    auto r = send("PUT", t->bucket, t->encodedKey, "", std::string(bytes), type, "PUT", uri);
    if (!r.ok()) return r.error();
    if (r->status != 200) return describe(r.value(), "PUT", uri);
    forget(uri);
    return {};
  }
  auto created = send("POST", t->bucket, t->encodedKey, "uploads=", "", type, "CreateMultipartUpload", uri);
  if (!created.ok()) return created.error();
  if (created->status != 200) return describe(created.value(), "CreateMultipartUpload", uri);
  const std::string uploadId = http::firstElement(created->body, "UploadId");
  if (uploadId.empty()) return Error{ErrorKind::Io, "CreateMultipartUpload " + uri + ": the answer has no UploadId"};
  const std::string idQuery = "uploadId=" + percentEncode(uploadId, false);
  auto abort = [&](core::Error e) -> Result<void> {
    (void)send("DELETE", t->bucket, t->encodedKey, idQuery, "", {}, "AbortMultipartUpload", uri);
    return e;
  };
  std::string complete = "<CompleteMultipartUpload>";
  int part = 1;
  for (int64_t off = 0; off < static_cast<int64_t>(bytes.size()); off += m_settings.partSize, ++part) {
    const std::string_view chunk = bytes.substr(static_cast<size_t>(off), static_cast<size_t>(m_settings.partSize));
    auto r = send("PUT", t->bucket, t->encodedKey, "partNumber=" + std::to_string(part) + "&" + idQuery,
                  std::string(chunk), {}, "UploadPart", uri);
    if (!r.ok()) return abort(r.error());
    if (r->status != 200) return abort(describe(r.value(), "UploadPart", uri));
    complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + r->header("etag") +
                "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  auto done = send("POST", t->bucket, t->encodedKey, idQuery, complete, {"Content-Type: application/xml"},
                   "CompleteMultipartUpload", uri);
  if (!done.ok()) return abort(done.error());
  // S3 can answer 200 with an <Error> body when completion fails late.
  if (done->status != 200 || done->body.find("<Error>") != std::string::npos) {
    return abort(describe(done.value(), "CompleteMultipartUpload", uri));
  }
  forget(uri);
  return {};
}

std::shared_ptr<Storage> s3Storage(std::string_view scheme) {
  // Settings are read once per process per scheme, on first use.
  static std::mutex mutex;
  static std::shared_ptr<Storage> s3, gs;
  std::lock_guard lock(mutex);
  auto& slot = scheme == "gs" ? gs : s3;
  if (!slot) {
    std::string problem;
    S3Settings settings = resolveS3Settings(scheme, &problem);
    slot = std::make_shared<S3Storage>(std::move(settings), std::move(problem));
  }
  return slot;
}

}  // namespace loom::storage
