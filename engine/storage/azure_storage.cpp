#include "storage/azure_storage.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>
#include <vector>

#include "storage/glob.h"
#include "storage/uri.h"

// Hand-written signing: libcurl signs only AWS SigV4, and the Azure SDK for C++ would bring its own
// HTTP stack, retry logic and a dozen libraries for what is an HMAC over a dozen header lines.

namespace loom::storage {

using core::Error;
using core::ErrorKind;
using core::Result;

namespace {

// A version azurite 3.35 accepts without --skipApiVersionCheck and Azure serves everywhere.
constexpr const char* kApiVersion = "2021-12-02";
// azurite's published development account (not a secret: it is in Microsoft's documentation).
constexpr const char* kDevAccount = "devstoreaccount1";
constexpr const char* kDevKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
constexpr const char* kSetCredentialsHint =
    "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN";

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || (c == '=' && i + 2 >= text.size());
    if (!ok) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

// Content-MD5 of an upload: Azure checks it and refuses a body damaged on the way.
std::string md5Base64(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return base64Encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

int64_t toInt(std::string_view s, int64_t fallback) {
  const std::string t(trim(s));
  if (t.empty()) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  return (end && *end == '\0') ? static_cast<int64_t>(v) : fallback;
}

// ---- accounts and credentials ------------------------------------------------------------------

// scheme://host[:port][/path] -> (host, path without a trailing '/').
std::pair<std::string, std::string> splitEndpoint(std::string_view endpoint) {
  const size_t scheme = endpoint.find("://");
  const size_t hostStart = scheme == std::string_view::npos ? 0 : scheme + 3;
  const size_t slash = endpoint.find('/', hostStart);
  std::string host(
      endpoint.substr(hostStart, slash == std::string_view::npos ? std::string_view::npos : slash - hostStart));
  std::string path(slash == std::string_view::npos ? std::string_view() : endpoint.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  const size_t colon = host.find(':');
  if (colon != std::string::npos) host.resize(colon);
  return {host, path};
}

// Path-style endpoints (azurite, Azure Stack) name the account in the first path segment;
// Azure's own name it in the first label of the host.
std::string accountFromEndpoint(std::string_view endpoint) {
  const auto [host, path] = splitEndpoint(endpoint);
  if (path.size() > 1) {
    const size_t next = path.find('/', 1);
    return path.substr(1, next == std::string::npos ? std::string::npos : next - 1);
  }
  return host.substr(0, host.find('.'));
}

Result<std::string> normalizedEndpoint(std::string_view raw, std::string_view origin) {
  std::string endpoint(trim(raw));
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const std::string low = lowered(endpoint);
  if (!low.starts_with("https://") && !low.starts_with("http://")) {
    return Error{ErrorKind::InvalidInput, std::string(origin) +
                                              " must be an http:// or https:// URL (such as "
                                              "https://myaccount.blob.core.windows.net), got '" +
                                              http::urlForDisplay(endpoint) + "'"};
  }
  return http::urlForDisplay(endpoint);  // a query string has no place in an endpoint
}

Result<std::string> decodedKey(std::string_view text, std::string_view origin) {
  auto key = base64Decode(text);
  if (!key || key->empty()) {
    return Error{ErrorKind::InvalidInput, std::string(origin) +
                                              " is not a valid account key (expected the base64 text shown under "
                                              "Access keys in the Azure portal)"};
  }
  return std::move(*key);
}

std::string stripQuestionMark(std::string_view sas) {
  sas = trim(sas);
  if (sas.starts_with('?')) sas.remove_prefix(1);
  return std::string(sas);
}

Result<AzureAccount> fromConnectionString(std::string_view text) {
  constexpr std::string_view kVar = "AZURE_STORAGE_CONNECTION_STRING";
  std::vector<std::pair<std::string, std::string>> parts;
  size_t pos = 0;
  int index = 0;
  while (pos <= text.size()) {
    size_t semi = text.find(';', pos);
    if (semi == std::string_view::npos) semi = text.size();
    const std::string_view part = trim(text.substr(pos, semi - pos));
    pos = semi + 1;
    ++index;
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Error{ErrorKind::InvalidInput, std::string(kVar) + " is malformed: part " + std::to_string(index) +
                                                " is not Name=value (parts are separated by ';')"};
    }
    parts.emplace_back(std::string(trim(part.substr(0, eq))), std::string(trim(part.substr(eq + 1))));
  }
  auto get = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [k, v] : parts) {
      if (equalsIgnoreCase(k, name) && !v.empty()) return v;
    }
    return std::nullopt;
  };

  AzureAccount a;
  if (auto dev = get("UseDevelopmentStorage"); dev && equalsIgnoreCase(*dev, "true")) {
    a.name = kDevAccount;
    std::string proxy = get("DevelopmentStorageProxyUri").value_or("http://127.0.0.1");
    while (!proxy.empty() && proxy.back() == '/') proxy.pop_back();
    a.endpoint = proxy + ":10000/" + kDevAccount;
    a.auth = AzureAccount::Auth::SharedKey;
    a.key = *base64Decode(kDevKey);
    a.source = "UseDevelopmentStorage=true in AZURE_STORAGE_CONNECTION_STRING: azurite's development account";
    return a;
  }

  const auto name = get("AccountName");
  if (auto blob = get("BlobEndpoint")) {
    auto endpoint = normalizedEndpoint(*blob, "BlobEndpoint in AZURE_STORAGE_CONNECTION_STRING");
    if (!endpoint.ok()) return endpoint.error();
    a.endpoint = std::move(*endpoint);
  } else if (name) {
    const std::string protocol = lowered(get("DefaultEndpointsProtocol").value_or("https"));
    if (protocol != "https" && protocol != "http") {
      return Error{ErrorKind::InvalidInput,
                   std::string(kVar) + " is malformed: DefaultEndpointsProtocol must be https or http"};
    }
    a.endpoint = protocol + "://" + *name + ".blob." + get("EndpointSuffix").value_or("core.windows.net");
  } else {
    return Error{ErrorKind::InvalidInput,
                 std::string(kVar) +
                     " names no account: it needs AccountName=… (or BlobEndpoint=…), as in the "
                     "connection string the Azure portal shows under Access keys"};
  }
  a.name = name ? *name : accountFromEndpoint(a.endpoint);
  if (auto key = get("AccountKey")) {
    if (!name) {
      return Error{ErrorKind::InvalidInput,
                   std::string(kVar) + " has AccountKey but no AccountName (Shared Key signing needs both)"};
    }
    auto decoded = decodedKey(*key, "AccountKey in AZURE_STORAGE_CONNECTION_STRING");
    if (!decoded.ok()) return decoded.error();
    a.auth = AzureAccount::Auth::SharedKey;
    a.key = std::move(*decoded);
    a.source = "AccountKey in AZURE_STORAGE_CONNECTION_STRING";
  } else if (auto sas = get("SharedAccessSignature")) {
    a.auth = AzureAccount::Auth::Sas;
    a.sas = stripQuestionMark(*sas);
    a.source = "SharedAccessSignature in AZURE_STORAGE_CONNECTION_STRING";
  }
  return a;
}

// ---- one signed request --------------------------------------------------------------------------

struct Call {
  std::string action;  // the REST operation's name, for messages: "List Blobs", "Put Blob"
  std::string method = "GET";
  std::string container;
  std::string blob;                                        // decoded; empty for container operations
  std::vector<std::pair<std::string, std::string>> query;  // decoded names and values
  std::vector<std::string> headers;                        // "Name: value"
  std::string body;
  int64_t maxBodyBytes = int64_t{64} << 20;
  double timeoutSeconds = 120;
};

std::string requestPath(const AzureAccount& a, const Call& c) {
  std::string path = splitEndpoint(a.endpoint).second + "/" + c.container;
  if (!c.blob.empty()) path += "/" + percentEncodePath(c.blob);
  return path;
}

// Sends `c`, signed as the account's credential says; the body is moved out of `c` (blocks are 8 MiB).
Result<http::Response> send(const AzureAccount& a, Call& c, const http::RetryPolicy& policy, core::Feedback* feedback) {
  const std::string path = requestPath(a, c);
  const size_t schemeEnd = a.endpoint.find("://");
  const size_t hostEnd = a.endpoint.find('/', schemeEnd + 3);
  std::string url = a.endpoint.substr(0, hostEnd) + path;
  char sep = '?';
  for (const auto& [k, v] : c.query) {
    url += sep;
    url += percentEncode(k, false) + "=" + percentEncode(v, false);
    sep = '&';
  }
  if (a.auth == AzureAccount::Auth::Sas && !a.sas.empty()) {
    url += sep;
    url += a.sas;
  }

  http::Request req;
  req.method = c.method;
  // The endpoint comes from the person's configuration (environment, config files), never a flow.
  req.purpose = net::Purpose::Configured;
  req.url = std::move(url);
  req.headers = c.headers;
  req.headers.push_back(std::string("x-ms-version: ") + kApiVersion);
  const auto now = std::chrono::system_clock::now();
  req.headers.push_back(
      "x-ms-date: " +
      http::httpDate(std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count()));
  const bool sendsBody = c.method == "PUT" || c.method == "POST";
  if (sendsBody) req.body = std::move(c.body);
  if (a.auth == AzureAccount::Auth::SharedKey) {
    const std::string sts = azure_detail::stringToSign(c.method, a.name, path, c.query, req.headers,
                                                       static_cast<int64_t>(req.body.size()));
    req.headers.push_back("Authorization: SharedKey " + a.name + ":" + base64Encode(hmacSha256(a.key, sts)));
  }
  req.maxBodyBytes = c.maxBodyBytes;
  req.timeoutSeconds = c.timeoutSeconds;
  auto r = http::perform(req, policy, feedback);
  if (!r.ok() && r.error().kind != ErrorKind::Cancelled) {
    // No HTTP answer: say which operation on which object, then http_client's account of why
    // (its URL has no query string, so no SAS token).
    const std::string target = c.blob.empty() ? "az://" + c.container : azure_detail::uriFor(c.container, c.blob);
    return Error{r.error().kind, c.action + " on " + sanitizeUtf8(target) + " failed: " + r.error().message};
  }
  return r;
}

std::string errorCode(const http::Response& r) {
  std::string code = r.header("x-ms-error-code");
  if (code.empty()) code = http::firstElement(r.body, "Code");
  return code;
}

// A SAS token's field (decoded), or "".
std::string sasField(std::string_view sas, std::string_view name) {
  size_t pos = 0;
  while (pos <= sas.size()) {
    size_t amp = sas.find('&', pos);
    if (amp == std::string_view::npos) amp = sas.size();
    const std::string_view part = sas.substr(pos, amp - pos);
    const size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      return percentDecode(part.substr(eq + 1)).value_or("");
    }
    pos = amp + 1;
  }
  return {};
}

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What a 401/403 most likely means for this credential, as advice a person can act on.
std::string permissionAdvice(const AzureAccount& a, const std::string& code, const http::Response& r,
                             const std::string& action) {
  switch (a.auth) {
    case AzureAccount::Auth::Anonymous:
      return std::string(
                 "no credential was found (anonymous requests work only for containers with public "
                 "access): ") +
             kSetCredentialsHint;
    case AzureAccount::Auth::Sas: {
      const std::string expiry = sasField(a.sas, "se");
      const std::string start = sasField(a.sas, "st");
      const auto se = http::parseIsoTime(expiry);
      const auto st = http::parseIsoTime(start);
      const int64_t now = nowSeconds();
      const std::string detail = http::firstElement(r.body, "AuthenticationErrorDetail");
      if ((se && *se <= now) || detail.find("Signature not valid in the specified time frame") != std::string::npos) {
        return "the SAS token has expired" +
               (expiry.empty() ? std::string() : " (its expiry se=" + expiry + " has passed)") +
               ": create a new one and set it again";
      }
      if (st && *st > now + 300) {
        return "the SAS token is not valid yet (its start st=" + start +
               " lies in the future; check this machine's clock or the token)";
      }
      if (code == "AuthorizationPermissionMismatch" || code == "AuthorizationResourceTypeMismatch" ||
          code == "AuthorizationServiceMismatch" || code == "AuthorizationFailure") {
        const std::string sp = sasField(a.sas, "sp");
        return "the SAS token does not allow " + action + " here" +
               (sp.empty() ? std::string()
                           : " (it grants permissions '" + sp + "'; listing needs l, reading r, writing w)") +
               ", or it was made for another container: create one that covers this action";
      }
      if (code == "AuthorizationSourceIPMismatch") return "the SAS token is limited to other IP addresses";
      if (code == "AuthorizationProtocolMismatch") return "the SAS token is limited to another protocol (https only?)";
      return "the SAS token was not accepted (its signature does not match: was it made for this account, and "
             "copied whole?)";
    }
    case AzureAccount::Auth::SharedKey:
      if (code == "AuthorizationPermissionMismatch") return "the account does not allow this action";
      return "the signature was not accepted: check that the key belongs to account '" + a.name +
             "' (keys change when they are rotated under Access keys in the portal) and that this machine's clock "
             "is right";
  }
  return {};
}

// The error for an answer that was not the success expected. `uri` is the az:// URI acted on.
Error failure(const AzureAccount& a, const http::Response& r, const Call& c, const std::string& uri) {
  const std::string code = errorCode(r);
  const std::string status = std::to_string(r.status) + (code.empty() ? std::string() : " " + code);
  if (r.status == 401 || r.status == 403) {
    return Error{ErrorKind::PermissionDenied,
                 "permission denied: Azure refused " + c.action + " on " + uri + " (" + status + ") for account '" +
                     a.name + "' with " + a.describeCredential() + ": " + permissionAdvice(a, code, r, c.action)};
  }
  if (r.status == 404) {
    std::string message;
    if (code == "ContainerNotFound") {
      message = "container '" + c.container + "' does not exist in account '" + a.name + "' (in " + uri + ")";
    } else if (code == "BlobNotFound") {
      message =
          uri + " does not exist (no blob of that name in container '" + c.container + "' of account '" + a.name + "')";
    } else {
      message = uri + ": not found (" + status + ") in account '" + a.name + "' at " + a.endpoint;
    }
    if (a.auth == AzureAccount::Auth::Anonymous) {
      message += "; no credential was found, and anonymous requests to a private container can get this answer: " +
                 std::string(kSetCredentialsHint);
    }
    return Error{ErrorKind::NotFound, message};
  }
  if (r.status == 409 && code == "PublicAccessNotPermitted") {
    return Error{ErrorKind::PermissionDenied, "permission denied: " + c.action + " on " + uri + " (409 " + code +
                                                  "): account '" + a.name + "' allows no anonymous access; " +
                                                  kSetCredentialsHint};
  }
  const std::string attempts = r.attempts > 1 ? " after " + std::to_string(r.attempts) + " attempts" : "";
  const ErrorKind kind = r.status == 400 ? ErrorKind::InvalidInput : ErrorKind::Io;
  std::string message = c.action + " on " + uri + " failed: Azure answered " + status + attempts;
  const std::string text = http::firstElement(r.body, "Message");
  if (!text.empty()) message += " (" + std::string(trim(text.substr(0, text.find('\n')))) + ")";
  return Error{kind, message};
}

bool isPlainObjectName(std::string_view name) { return !name.empty() && name.back() != '/'; }

std::string lastSegment(std::string_view name) {
  const size_t slash = name.rfind('/');
  return sanitizeUtf8(slash == std::string_view::npos ? name : name.substr(slash + 1));
}

// One <Blob> element of a List Blobs answer.
std::optional<ObjectInfo> parseBlob(std::string_view xml, const std::string& container, std::string& name) {
  bool encoded = false;
  bool found = false;
  http::forEachElement(xml, "Name", [&](std::string_view text) {
    if (found) return;
    found = true;
    name = http::xmlUnescape(text);
  });
  if (!found) return std::nullopt;
  // Names holding characters XML 1.0 cannot carry come %-encoded, marked Encoded="true".
  const size_t open = xml.find("<Name");
  if (open != std::string_view::npos) {
    const size_t gt = xml.find('>', open);
    encoded = xml.substr(open, gt - open).find("Encoded=\"true\"") != std::string_view::npos;
  }
  if (encoded) {
    auto decoded = percentDecode(name);
    if (!decoded) return std::nullopt;
    name = std::move(*decoded);
  }
  ObjectInfo info;
  info.uri = azure_detail::uriFor(container, name);
  info.name = lastSegment(name);
  info.etag = http::unquoteEtag(http::firstElement(xml, "Etag"));
  info.size = std::max<int64_t>(-1, toInt(http::firstElement(xml, "Content-Length"), -1));  // -1: unknown
  if (auto t = http::parseHttpDate(http::firstElement(xml, "Last-Modified"))) info.mtimeNs = *t * 1'000'000'000;
  return info;
}

ObjectInfo infoFromHeaders(const http::Response& r, const std::string& container, const std::string& blob) {
  ObjectInfo info;
  info.uri = azure_detail::uriFor(container, blob);
  info.name = lastSegment(blob);
  info.etag = http::unquoteEtag(r.header("etag"));
  info.size = toInt(r.header("content-length"), -1);
  if (auto t = http::parseHttpDate(r.header("last-modified"))) info.mtimeNs = *t * 1'000'000'000;
  return info;
}

bool validContainerName(std::string_view c) {
  if (c == "$root" || c == "$web" || c == "$logs") return true;
  if (c.size() < 3 || c.size() > 63) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    const char ch = c[i];
    const bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
    if (alnum) continue;
    if (ch != '-' || i == 0 || i + 1 == c.size() || c[i - 1] == '-') return false;
  }
  return true;
}

}  // namespace

// ---- public helpers ------------------------------------------------------------------------------

Result<ListBlobsPage> parseListBlobsPage(std::string_view xml, const std::string& container) {
  // A 200 from something that is not Azure (a captive portal, a proxy's HTML page) must not read as
  // an empty container.
  if (xml.find("<EnumerationResults") == std::string_view::npos) {
    std::string start = sanitizeUtf8(xml.substr(0, 80));
    std::replace(start.begin(), start.end(), '\n', ' ');
    return Error{ErrorKind::Corrupt, "the answer is not a List Blobs result (" + std::to_string(xml.size()) +
                                         " bytes" + (start.empty() ? std::string() : ", starting '" + start + "'") +
                                         "); is the endpoint an Azure Blob service?"};
  }
  // A page cut short (a proxy or connection that ended the body early without an error) would
  // otherwise drop the objects it lost without a word.
  if (xml.find("</EnumerationResults>") == std::string_view::npos) {
    return Error{ErrorKind::Corrupt, "the answer is cut short (" + std::to_string(xml.size()) +
                                         " bytes, no </EnumerationResults> at the end); try again"};
  }
  ListBlobsPage page;
  http::forEachElement(xml, "Blob", [&](std::string_view blobXml) {
    ListBlobsEntry entry;
    auto info = parseBlob(blobXml, container, entry.name);
    if (!info) return;
    entry.object = std::move(*info);
    page.blobs.push_back(std::move(entry));
  });
  http::forEachElement(xml, "BlobPrefix", [&](std::string_view p) { page.prefixes.push_back(http::firstElement(p, "Name")); });
  page.nextMarker = http::firstElement(xml, "NextMarker");
  return page;
}

std::string AzureAccount::describeCredential() const {
  switch (auth) {
    case Auth::SharedKey: return "Shared Key (" + source + ")";
    case Auth::Sas: return "SAS token (" + source + ")";
    case Auth::Anonymous: return "anonymous access";
  }
  return {};
}

std::optional<std::string> processEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

Result<AzureAccount> azureAccountFromEnvironment(const EnvLookup& env) {
  if (auto cs = env("AZURE_STORAGE_CONNECTION_STRING"); cs && !trim(*cs).empty()) return fromConnectionString(*cs);

  AzureAccount a;
  const auto name = env("AZURE_STORAGE_ACCOUNT");
  if (auto endpoint = env("AZURE_STORAGE_BLOB_ENDPOINT")) {
    auto normalized = normalizedEndpoint(*endpoint, "AZURE_STORAGE_BLOB_ENDPOINT");
    if (!normalized.ok()) return normalized.error();
    a.endpoint = std::move(*normalized);
    a.name = name ? *name : accountFromEndpoint(a.endpoint);
  } else if (name) {
    a.name = *name;
    a.endpoint = "https://" + *name + ".blob.core.windows.net";
  }
  const auto key = env("AZURE_STORAGE_KEY");
  const auto sas = env("AZURE_STORAGE_SAS_TOKEN");
  if (a.name.empty()) {
    if (key || sas) {
      return Error{ErrorKind::InvalidInput, std::string(key ? "AZURE_STORAGE_KEY" : "AZURE_STORAGE_SAS_TOKEN") +
                                                " is set but AZURE_STORAGE_ACCOUNT is not: set the storage account's "
                                                "name too"};
    }
    return Error{ErrorKind::InvalidInput, std::string("no Azure Storage account is configured for az:// URIs: ") +
                                              kSetCredentialsHint +
                                              " (or AZURE_STORAGE_ACCOUNT alone for public containers)"};
  }
  if (key) {
    auto decoded = decodedKey(*key, "AZURE_STORAGE_KEY");
    if (!decoded.ok()) return decoded.error();
    a.auth = AzureAccount::Auth::SharedKey;
    a.key = std::move(*decoded);
    a.source = "AZURE_STORAGE_KEY";
  } else if (sas) {
    a.auth = AzureAccount::Auth::Sas;
    a.sas = stripQuestionMark(*sas);
    a.source = "AZURE_STORAGE_SAS_TOKEN";
  }
  return a;
}

namespace azure_detail {

Result<Location> parseUri(const std::string& uri) {
  if (uri.size() < 5 || !equalsIgnoreCase(std::string_view(uri).substr(0, 5), "az://")) {
    return Error{ErrorKind::InvalidInput, "'" + sanitizeUtf8(uri) + "' is not an az:// URI (az://container/path)"};
  }
  const std::string_view rest = std::string_view(uri).substr(5);
  const size_t slash = rest.find('/');
  Location loc;
  loc.container = std::string(rest.substr(0, slash));
  if (loc.container.empty()) {
    return Error{ErrorKind::InvalidInput, "'" + sanitizeUtf8(uri) + "' names no container (az://container/path)"};
  }
  if (!validContainerName(loc.container)) {
    return Error{ErrorKind::InvalidInput, "'" + sanitizeUtf8(loc.container) + "' in " + sanitizeUtf8(uri) +
                                              " is not a valid Azure container name (3 to 63 lowercase letters, "
                                              "digits and single hyphens, starting and ending with a letter or digit)"};
  }
  if (slash != std::string_view::npos) {
    // '?' and '#' stay part of the name, as for file://: our own URIs always encode them.
    auto blob = percentDecode(rest.substr(slash + 1));
    if (!blob || blob->find('\0') != std::string::npos) {
      return Error{ErrorKind::InvalidInput,
                   "'" + sanitizeUtf8(uri) + "' is not a valid az:// URI ('%' must be followed by two hex digits)"};
    }
    loc.blob = std::move(*blob);
  }
  return loc;
}

std::string uriFor(const std::string& container, const std::string& blob) {
  return "az://" + container + "/" + percentEncodePath(blob);
}

std::string stringToSign(const std::string& method, const std::string& accountName, const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& query,
                         const std::vector<std::string>& headers, int64_t contentLength) {
  std::vector<std::pair<std::string, std::string>> parsed;
  for (const auto& h : headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    parsed.emplace_back(lowered(trim(std::string_view(h).substr(0, colon))),
                        std::string(trim(std::string_view(h).substr(colon + 1))));
  }
  auto standard = [&](std::string_view name) -> std::string {
    for (const auto& [k, v] : parsed) {
      if (k == name) return v;
    }
    return {};
  };
  std::string s = method + "\n";
  s += standard("content-encoding") + "\n";
  s += standard("content-language") + "\n";
  // Since version 2015-02-21 a zero length is signed as an empty string.
  s += (contentLength > 0 ? std::to_string(contentLength) : std::string()) + "\n";
  s += standard("content-md5") + "\n";
  s += standard("content-type") + "\n";
  s += standard("date") + "\n";
  s += standard("if-modified-since") + "\n";
  s += standard("if-match") + "\n";
  s += standard("if-none-match") + "\n";
  s += standard("if-unmodified-since") + "\n";
  s += standard("range") + "\n";

  std::vector<std::pair<std::string, std::string>> msHeaders;
  for (const auto& [k, v] : parsed) {
    if (k.starts_with("x-ms-")) {
      // Linear whitespace in a value folds to one space.
      std::string folded;
      bool space = false;
      for (const char ch : v) {
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
          space = true;
          continue;
        }
        if (space && !folded.empty()) folded.push_back(' ');
        space = false;
        folded.push_back(ch);
      }
      msHeaders.emplace_back(k, std::move(folded));
    }
  }
  std::stable_sort(msHeaders.begin(), msHeaders.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& [k, v] : msHeaders) s += k + ":" + v + "\n";

  s += "/" + accountName + path;
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [k, v] : query) q.emplace_back(lowered(k), v);
  std::stable_sort(q.begin(), q.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (size_t i = 0; i < q.size(); ++i) {
    // Repeated names join their values with ',' on one line.
    if (i > 0 && q[i].first == q[i - 1].first) {
      s += "," + q[i].second;
    } else {
      s += "\n" + q[i].first + ":" + q[i].second;
    }
  }
  return s;
}

}  // namespace azure_detail

// ---- the backend ---------------------------------------------------------------------------------

AzureStorage::AzureStorage(Result<AzureAccount> account, AzureOptions options)
    : m_account(std::move(account)), m_options(std::move(options)) {
  m_options.pageSize = std::clamp(m_options.pageSize, 1, 5000);
  m_options.blockSize = std::clamp<int64_t>(m_options.blockSize, 1, int64_t{4000} << 20);
  m_options.singlePutLimit = std::clamp<int64_t>(m_options.singlePutLimit, 0, int64_t{5000} << 20);
  // Two accounts can hold the same az://container/name; their cached bytes must not mix.
  if (m_account.ok()) setCacheNamespace("az " + m_account->endpoint);
}

Result<void> AzureStorage::list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                                core::Feedback* feedback) {
  auto loc = azure_detail::parseUri(prefixUri);
  if (!loc.ok()) return loc.error();
  const auto& acct = m_account;
  if (!acct.ok()) return acct.error();
  const AzureAccount& a = *acct;
  std::string key = loc->blob;
  while (!key.empty() && key.back() == '/') key.pop_back();  // a trailing slash changes nothing, as for file://
  const std::string prefix = key.empty() ? std::string() : key + "/";
  const std::string shownUri = sanitizeUtf8(prefixUri);
  const Glob glob(options.glob);
  auto cancelled = [&] { return Error{ErrorKind::Cancelled, "listing " + shownUri + " was cancelled"}; };

  bool sawAny = false;
  bool stopped = false;
  std::string marker;
  do {
    if (feedback && feedback->isCancelled()) return cancelled();
    Call c;
    c.action = "List Blobs";
    c.container = loc->container;
    c.query = {{"restype", "container"}, {"comp", "list"}};
    if (!prefix.empty()) c.query.emplace_back("prefix", prefix);
    if (!options.recursive) c.query.emplace_back("delimiter", "/");
    if (!marker.empty()) c.query.emplace_back("marker", marker);
    c.query.emplace_back("maxresults", std::to_string(m_options.pageSize));
    auto r = send(a, c, m_options.retry, feedback);
    if (!r.ok()) return r.error();
    if (r->status != 200) return failure(a, *r, c, shownUri);

    auto parsed = parseListBlobsPage(r->body, loc->container);
    if (!parsed.ok()) return Error{parsed.error().kind, c.action + " on " + shownUri + ": " + parsed.error().message};
    sawAny = sawAny || !parsed->blobs.empty() || (!options.recursive && !parsed->prefixes.empty());
    for (ListBlobsEntry& blob : parsed->blobs) {
      if (!isPlainObjectName(blob.name) || blob.name.size() <= prefix.size()) continue;
      if (!glob.matches(std::string_view(blob.name).substr(prefix.size()))) continue;
      remember(blob.object);
      if (!sink(std::move(blob.object))) {
        stopped = true;
        break;
      }
    }
    marker = std::move(parsed->nextMarker);
  } while (!marker.empty() && !stopped);
  if (stopped || sawAny || key.empty()) return {};

  // Nothing under key/: the URI may name one blob, as a file:// URI may name one file.
  Call c;
  c.action = "Get Blob Properties";
  c.method = "HEAD";
  c.container = loc->container;
  c.blob = key;
  auto r = send(a, c, m_options.retry, feedback);
  if (!r.ok()) return r.error();
  if (r->status == 404) {
    return Error{ErrorKind::NotFound, shownUri + " does not exist: no blob is named '" + sanitizeUtf8(key) +
                                          "' and none starts with '" + sanitizeUtf8(prefix) + "' in container '" +
                                          loc->container + "' of account '" + a.name + "'"};
  }
  if (r->status != 200) return failure(a, *r, c, azure_detail::uriFor(loc->container, key));
  ObjectInfo info = infoFromHeaders(*r, loc->container, key);
  remember(info);
  if (glob.matches(lastSegment(key))) sink(std::move(info));
  return {};
}

Result<ObjectInfo> AzureStorage::stat(const std::string& uri) {
  auto loc = azure_detail::parseUri(uri);
  if (!loc.ok()) return loc.error();
  if (!isPlainObjectName(loc->blob)) {
    return Error{ErrorKind::InvalidInput, sanitizeUtf8(uri) +
                                              " names a container or folder, not a blob (list it to "
                                              "see the blobs inside)"};
  }
  const auto& acct = m_account;
  if (!acct.ok()) return acct.error();
  Call c;
  c.action = "Get Blob Properties";
  c.method = "HEAD";
  c.container = loc->container;
  c.blob = loc->blob;
  auto r = send(*acct, c, m_options.retry, nullptr);
  if (!r.ok()) return r.error();
  if (r->status == 200) {
    ObjectInfo info = infoFromHeaders(*r, loc->container, loc->blob);
    remember(info);
    return info;
  }
  if (r->status == 404 && errorCode(*r) != "ContainerNotFound") {
    // A folder is not an object, but say so rather than "does not exist".
    Call l;
    l.action = "List Blobs";
    l.container = loc->container;
    l.query = {{"restype", "container"}, {"comp", "list"}, {"prefix", loc->blob + "/"}, {"maxresults", "1"}};
    auto lr = send(*acct, l, m_options.retry, nullptr);
    if (lr.ok() && lr->status == 200 && lr->body.find("<Blob>") != std::string::npos) {
      return Error{ErrorKind::InvalidInput,
                   sanitizeUtf8(uri) + " is a folder, not a blob (list it to see the blobs inside)"};
    }
  }
  return failure(*acct, *r, c, sanitizeUtf8(uri));
}

Result<Fetched> AzureStorage::fetch(const std::string& uri, const std::string& etag, int64_t offset, int64_t length) {
  auto loc = azure_detail::parseUri(uri);
  if (!loc.ok()) return loc.error();
  const auto& acct = m_account;
  if (!acct.ok()) return acct.error();
  Call c;
  c.action = "Get Blob";
  c.container = loc->container;
  c.blob = loc->blob;
  c.headers.push_back("x-ms-range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1));
  if (!etag.empty()) c.headers.push_back("If-Match: \"" + etag + "\"");
  // Room for an error answer's XML too; a server that ignored the range still cannot flood memory.
  c.maxBodyBytes = std::max<int64_t>(length, 64 * 1024);
  auto r = send(*acct, c, m_options.retry, nullptr);
  if (!r.ok()) return r.error();
  Fetched f;
  if (r->status == 412) {
    f.changed = true;
    return f;
  }
  if (r->status != 206 && r->status != 200) return failure(*acct, *r, c, sanitizeUtf8(uri));
  f.etag = http::unquoteEtag(r->header("etag"));
  const std::string range = r->header("content-range");  // "bytes 0-99/1234"
  const size_t slash = range.rfind('/');
  if (slash != std::string::npos) f.totalSize = toInt(std::string_view(range).substr(slash + 1), -1);
  if (r->status == 200 && f.totalSize < 0) f.totalSize = static_cast<int64_t>(r->body.size());
  f.bytes = std::move(r->body);
  if (static_cast<int64_t>(f.bytes.size()) > length) f.bytes.resize(static_cast<size_t>(length));
  return f;
}

Result<void> AzureStorage::write(const std::string& uri, std::string_view bytes) {
  auto loc = azure_detail::parseUri(uri);
  if (!loc.ok()) return loc.error();
  if (!isPlainObjectName(loc->blob)) {
    return Error{ErrorKind::InvalidInput,
                 "cannot write " + sanitizeUtf8(uri) + ": the URI names a container or folder (add a blob name)"};
  }
  const auto& acct = m_account;
  if (!acct.ok()) return acct.error();
  const std::string shownUri = sanitizeUtf8(uri);
  const auto size = static_cast<int64_t>(bytes.size());
  // Generous for slow uplinks: 2 minutes plus 2 seconds per MiB.
  auto timeoutFor = [](int64_t n) { return 120.0 + 2.0 * static_cast<double>(n) / (1 << 20); };

  Result<http::Response> done = Error{ErrorKind::Internal, "no request sent"};
  Call last;
  if (size <= m_options.singlePutLimit) {
    Call c;
    c.action = "Put Blob";
    c.method = "PUT";
    c.container = loc->container;
    c.blob = loc->blob;
    c.body = std::string(bytes);
    c.headers = {"x-ms-blob-type: BlockBlob", "Content-Type: application/octet-stream",
                 "Content-MD5: " + md5Base64(bytes)};
    c.timeoutSeconds = timeoutFor(size);
    done = send(*acct, c, m_options.retry, nullptr);
    last = std::move(c);
  } else {
    // Azure allows 50,000 blocks per blob: grow the block size for very large blobs.
    const int64_t blockSize = std::max(m_options.blockSize, (size + 49'999) / 50'000);
    std::string blockList = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    // Block ids: all of one length (Azure requires it), and a random prefix per write so two
    // writers of the same blob never commit each other's uncommitted blocks.
    thread_local std::mt19937_64 rng(std::random_device{}());
    const unsigned long long writeId = rng() & 0xFFFF'FFFF'FFFFULL;
    int index = 0;
    for (int64_t off = 0; off < size; off += blockSize, ++index) {
      char raw[32];
      std::snprintf(raw, sizeof raw, "%012llx%09d", writeId, index);
      const std::string id = base64Encode(raw);
      const std::string_view piece =
          bytes.substr(static_cast<size_t>(off), static_cast<size_t>(std::min(blockSize, size - off)));
      Call c;
      c.action = "Put Block";
      c.method = "PUT";
      c.container = loc->container;
      c.blob = loc->blob;
      c.query = {{"comp", "block"}, {"blockid", id}};
      c.body = std::string(piece);
      c.headers = {"Content-Type: application/octet-stream", "Content-MD5: " + md5Base64(piece)};
      c.timeoutSeconds = timeoutFor(static_cast<int64_t>(piece.size()));
      auto r = send(*acct, c, m_options.retry, nullptr);
      if (!r.ok()) return r.error();
      if (r->status != 201) return failure(*acct, *r, c, shownUri);
      blockList += "<Latest>" + id + "</Latest>";
    }
    blockList += "</BlockList>";
    Call c;
    c.action = "Put Block List";
    c.method = "PUT";
    c.container = loc->container;
    c.blob = loc->blob;
    c.query = {{"comp", "blocklist"}};
    c.headers = {"Content-Type: application/xml", "x-ms-blob-content-type: application/octet-stream",
                 "Content-MD5: " + md5Base64(blockList)};
    c.body = std::move(blockList);
    done = send(*acct, c, m_options.retry, nullptr);
    last = std::move(c);
  }
  if (!done.ok()) return done.error();
  if (done->status != 201) return failure(*acct, *done, last, shownUri);
  ObjectInfo info;
  info.uri = azure_detail::uriFor(loc->container, loc->blob);
  info.etag = http::unquoteEtag(done->header("etag"));
  info.size = size;
  if (info.etag.empty()) {
    forget(info.uri);
  } else {
    remember(info);
  }
  return {};
}

std::shared_ptr<Storage> azureStorage() {
  static const std::shared_ptr<Storage> instance = std::make_shared<AzureStorage>(azureAccountFromEnvironment());
  return instance;
}

}  // namespace loom::storage
