#include "storage/http_storage.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <vector>

#include "storage/backends.h"
#include "storage/glob.h"
#include "storage/http_client.h"
#include "storage/uri.h"

namespace loom::storage {

using core::Error;
using core::ErrorKind;
using core::Result;

namespace {

// Error bodies (an HTML 404 page) are kept for nothing but their size; a larger one is refused.
constexpr int64_t kMaxErrorBody = int64_t{1} << 20;
// A check that has to GET because HEAD was refused, from a server that also ignores Range, streams
// at most this much of the body to learn the size (then reports the URL alive, size unknown).
constexpr int64_t kMaxCheckBody = int64_t{8} << 20;

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Bytes that may stand in a URL as they are: RFC 3986 unreserved and reserved characters.
bool isUrlChar(unsigned char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':
    case ':': case '/': case '?': case '#': case '[': case ']': case '@':
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',': case ';': case '=':
      return true;
    default:
      return false;
  }
}

// %-encodes what may not appear in a URL; keeps valid %XX escapes and every structural character.
std::string encodeUnsafe(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '%' && i + 2 < s.size() && isHex(s[i + 1]) && isHex(s[i + 2])) {
      out.push_back('%');
    } else if (c != '%' && isUrlChar(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string_view trimmed(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// The URL as a message may show it: no query string, no user:password.
std::string shown(std::string_view url) { return sanitizeUtf8(http::urlForDisplay(url)); }

bool hasQuery(std::string_view url) { return url.find('?') != std::string_view::npos; }

}  // namespace

std::string httpObjectName(std::string_view url) {
  std::string_view s = url.substr(0, url.find_first_of("?#"));
  const size_t scheme = s.find("://");
  const size_t pathStart = s.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  std::string_view host = s.substr(scheme == std::string_view::npos ? 0 : scheme + 3);
  host = host.substr(0, host.find('/'));
  if (const size_t at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  if (pathStart == std::string_view::npos) return sanitizeUtf8(host);
  std::string_view path = s.substr(pathStart);
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::string_view last = path.substr(path.rfind('/') + 1);
  if (last.empty()) return sanitizeUtf8(host);
  const auto decoded = percentDecode(last);
  return sanitizeUtf8(decoded ? *decoded : std::string(last));
}

namespace {

const char* reasonPhrase(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

std::string statusText(long status) {
  std::string s = "HTTP " + std::to_string(status);
  if (const char* r = reasonPhrase(status); *r) s += std::string(" ") + r;
  return s;
}

// What a final non-success status means for a person, with the kind a caller can act on.
Error statusError(long status, const std::string& url, const std::string& finalUrl, int attempts) {
  std::string where = shown(url);
  if (!finalUrl.empty() && http::urlForDisplay(finalUrl) != http::urlForDisplay(url))
    where += " (redirected to " + shown(finalUrl) + ")";
  const std::string what = where + ": " + statusText(status);
  if (status == 404 || status == 410) return Error{ErrorKind::NotFound, what};
  if (status == 401)
    return Error{ErrorKind::PermissionDenied,
                 what + ": the server wants credentials, and Loom sends none with http(s) URLs (use a public or "
                        "presigned URL)"};
  if (status == 403)
    return Error{ErrorKind::PermissionDenied,
                 what + ": the server refuses access (a presigned URL may have expired, or the object is private)"};
  if (http::isRetryableStatus(status) && attempts > 1)
    return Error{ErrorKind::Io, what + ", still after " + std::to_string(attempts) + " attempts"};
  return Error{ErrorKind::Io, what};
}

bool isRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Resolves a Location header against the URL that sent it (RFC 3986 section 5) with curl's URL API.
Result<std::string> resolveLocation(const std::string& base, const std::string& location) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> h(curl_url(), &curl_url_cleanup);
  if (!h) return Error{ErrorKind::Internal, "curl_url failed"};
  if (curl_url_set(h.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(h.get(), CURLUPART_URL, encodeUnsafe(trimmed(location)).c_str(), 0) != CURLUE_OK) {
    return Error{ErrorKind::Io, shown(base) + ": redirected to a malformed location '" +
                                    sanitizeUtf8(http::urlForDisplay(location)) + "'"};
  }
  char* out = nullptr;
  if (curl_url_get(h.get(), CURLUPART_URL, &out, 0) != CURLUE_OK || !out)
    return Error{ErrorKind::Io, shown(base) + ": cannot resolve the redirect to '" +
                                    sanitizeUtf8(http::urlForDisplay(location)) + "'"};
  std::string resolved(out);
  curl_free(out);
  auto normal = normalizeHttpUrl(resolved);
  if (!normal.ok())
    return Error{ErrorKind::Io, shown(base) + ": redirected to " + sanitizeUtf8(http::urlForDisplay(resolved)) +
                                    ", which Loom does not follow (" + normal.error().message + ")"};
  return normal;
}

struct Exchange {
  http::Response response;  // the final answer
  std::string finalUrl;
  int redirects = 0;
  int attempts = 0;
};

// Sends `request`, following redirects hop by hop (each hop with its own retries), so that loops,
// the hop limit and redirects to other schemes are named clearly. A Result error: no HTTP answer.
Result<Exchange> send(http::Request request, const HttpOptions& options, core::Feedback* feedback) {
  http::RetryPolicy policy;
  policy.maxAttempts = options.maxAttempts;
  policy.baseDelay = options.retryBaseDelay;
  policy.maxDelay = options.retryMaxDelay;
  request.followRedirects = false;
  request.connectTimeoutSeconds = options.connectTimeoutSeconds;
  request.timeoutSeconds = options.timeoutSeconds;
  if (request.maxBodyBytes > kMaxErrorBody && request.method != "PUT") request.maxBodyBytes = kMaxErrorBody;
  const std::string first = request.url;
  std::vector<std::string> visited{request.url};
  Exchange ex;
  for (;;) {
    auto r = http::perform(request, policy, feedback);
    if (!r.ok()) return r.error();
    ex.attempts += r->attempts;
    const std::string location = r->header("location");
    if (!isRedirect(r->status) || location.empty()) {
      ex.response = std::move(r).value();
      ex.finalUrl = request.url;
      return ex;
    }
    auto next = resolveLocation(request.url, location);
    if (!next.ok()) return next.error();
    if (std::find(visited.begin(), visited.end(), next.value()) != visited.end()) {
      return Error{ErrorKind::Io, shown(first) + ": redirect loop (" + shown(request.url) + " redirects back to " +
                                      shown(next.value()) + ")"};
    }
    if (ex.redirects >= options.maxRedirects) {
      return Error{ErrorKind::Io, shown(first) + ": more than " + std::to_string(options.maxRedirects) +
                                      " redirects (the last to " + shown(next.value()) + ")"};
    }
    ++ex.redirects;
    visited.push_back(next.value());
    request.url = std::move(next).value();
    if (r->status == 303 && request.method != "HEAD") request.method = "GET";
  }
}

int64_t parseInt64(std::string_view s) {
  s = trimmed(s);
  if (s.empty() || s.size() > 18) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// "bytes 0-0/1234" -> {0, 1234}; total -1 for "*" or anything unreadable.
std::pair<int64_t, int64_t> contentRange(const http::Response& r) {
  const std::string v = r.header("content-range");
  const size_t sp = v.find(' '), dash = v.find('-'), slash = v.find('/');
  if (sp == std::string::npos || slash == std::string::npos) return {-1, -1};
  const int64_t start =
      dash != std::string::npos && dash < slash ? parseInt64(std::string_view(v).substr(sp + 1, dash - sp - 1)) : -1;
  return {start, parseInt64(std::string_view(v).substr(slash + 1))};
}

bool isStrongEtag(std::string_view etag) { return etag.size() >= 2 && etag.front() == '"'; }

bool sameVersion(std::string_view a, std::string_view b) {
  if (a.starts_with("W/")) a.remove_prefix(2);
  if (b.starts_with("W/")) b.remove_prefix(2);
  return a == b;
}

// The version tag an answer gives: its ETag, else Last-Modified + size (a server with neither gives "").
std::string versionTag(const http::Response& r, int64_t size) {
  std::string etag(trimmed(r.header("etag")));
  if (!etag.empty()) return etag;
  const std::string lm = r.header("last-modified");
  if (lm.empty() || size < 0) return {};
  const auto t = http::parseHttpDate(lm);
  if (!t) return {};
  return "lm:" + std::to_string(*t) + "-" + std::to_string(size);
}

// Fills size, etag, mtime and mime from a successful answer (HEAD, 200 or 206).
void describeObject(const http::Response& r, UrlCheck& c) {
  if (r.status == 206) {
    c.info.size = contentRange(r).second;
  } else if (const std::string len = r.header("content-length"); !len.empty()) {
    c.info.size = parseInt64(len);
  }
  c.info.etag = versionTag(r, c.info.size);
  if (const std::string lm = r.header("last-modified"); !lm.empty()) {
    if (const auto t = http::parseHttpDate(lm); t && *t > 0) c.info.mtimeNs = *t * 1'000'000'000;
  }
  const std::string contentType = r.header("content-type");  // `type` views into it
  std::string_view type = trimmed(contentType);
  type = trimmed(type.substr(0, type.find(';')));
  c.mime.clear();
  for (char ch : type) c.mime.push_back(lowerAscii(ch));
}

// The body of a ranged GET: the range when the server honours it (206), the range cut out of the
// stream when it answers 200 with the whole object. Memory stays at about `length` either way.
struct RangeSink {
  int64_t offset = 0;
  int64_t length = 0;
  int64_t budget = 0;     // bytes of an ignored-Range answer we are prepared to stream
  std::string raw;        // the first bytes, while they may still be exactly the range asked for
  std::string window;     // once `whole`: the bytes of [offset, offset + length) seen so far
  int64_t seen = 0;
  bool whole = false;     // more than `length` bytes came: the server sent the whole object
  bool complete = false;  // whole, and every byte asked for is in `window`: the transfer was stopped

  bool take(std::string_view chunk) {
    const int64_t pos = seen;
    seen += static_cast<int64_t>(chunk.size());
    if (!whole) {
      if (seen <= length) {
        raw.append(chunk);
        return true;
      }
      whole = true;
      raw.append(chunk);  // raw is the body's [0, seen)
      if (offset < seen) window = raw.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
      std::string().swap(raw);
    } else {
      const int64_t from = std::max(pos, offset + static_cast<int64_t>(window.size()));
      const int64_t to = std::min(seen, offset + length);
      if (to > from) window.append(chunk.substr(static_cast<size_t>(from - pos), static_cast<size_t>(to - from)));
    }
    if (offset + length > budget) return false;  // beyond what may be streamed
    if (seen >= offset + length) {
      complete = true;
      return false;  // everything asked for is here; the rest of the object is not wanted
    }
    return true;
  }
};

}  // namespace

Result<std::string> normalizeHttpUrl(std::string_view input) {
  const std::string_view url = trimmed(input);
  const auto bad = [&](const std::string& why) {
    return Error{ErrorKind::InvalidInput, "'" + sanitizeUtf8(http::urlForDisplay(url)) + "' " + why};
  };
  if (url.empty()) return Error{ErrorKind::InvalidInput, "empty URL"};
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return bad("is not a URL (expected http://… or https://…)");
  std::string scheme;
  for (char c : url.substr(0, sep)) scheme.push_back(lowerAscii(c));
  if (scheme != "http" && scheme != "https")
    return bad("is not an http(s) URL (" + sanitizeUtf8(scheme) + "://; list other storage with storage.list)");
  const std::string_view rest = url.substr(sep + 3);
  const size_t authEnd = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, authEnd);
  for (unsigned char c : authority) {
    if (c <= 0x20 || c == 0x7f) return bad("has a space or control character in its host");
  }
  std::string userinfo;
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    userinfo = encodeUnsafe(authority.substr(0, at + 1));
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority, port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed IPv6 address");
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return bad("has junk after its IPv6 address");
    if (!after.empty()) port = after.substr(1);
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return bad("has no host");
  if (!port.empty()) {
    const int64_t p = parseInt64(port);
    if (p < 1 || p > 65535) return bad("has an invalid port '" + sanitizeUtf8(port) + "'");
    if ((scheme == "http" && p == 80) || (scheme == "https" && p == 443)) port = {};
  }
  std::string out = scheme + "://" + userinfo;
  for (char c : host) out.push_back(lowerAscii(c));
  if (!port.empty()) {
    out.push_back(':');
    out.append(std::to_string(parseInt64(port)));
  }
  std::string_view pathQuery = rest.substr(authEnd);
  pathQuery = pathQuery.substr(0, pathQuery.find('#'));
  if (pathQuery.empty() || pathQuery.front() == '?') out.push_back('/');
  out += encodeUnsafe(pathQuery);

  // curl's parser has the last word: what it refuses, no request could be sent to.
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> h(curl_url(), &curl_url_cleanup);
  if (!h) return Error{ErrorKind::Internal, "curl_url failed"};
  if (const CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, out.c_str(), 0); rc != CURLUE_OK)
    return bad(std::string("is malformed (") + curl_url_strerror(rc) + ")");
  return out;
}

HttpStorage::HttpStorage(HttpOptions options) : m_options(options) {}

UrlCheck HttpStorage::check(const std::string& url, core::Feedback* feedback) {
  const auto started = std::chrono::steady_clock::now();
  UrlCheck c;
  c.info.uri = url;
  const auto done = [&]() -> UrlCheck {
    c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return std::move(c);
  };
  const auto fail = [&](const Error& e) {
    c.kind = e.kind;
    c.info.error = e.message;
  };
  auto normal = normalizeHttpUrl(url);
  if (!normal.ok()) {
    c.info.name = sanitizeUtf8(url.substr(url.rfind('/') == std::string::npos ? 0 : url.rfind('/') + 1));
    fail(normal.error());
    return done();
  }
  c.info.name = httpObjectName(normal.value());

  http::Request head;
  head.method = "HEAD";
  head.url = normal.value();
  auto ex = send(head, m_options, feedback);
  if (!ex.ok()) {
    fail(ex.error());
    return done();
  }
  c.status = ex->response.status;
  c.finalUrl = ex->finalUrl;
  c.redirects = ex->redirects;
  c.attempts = ex->attempts;
  bool ask = false;  // with a ranged GET instead
  if (c.status >= 200 && c.status < 300) {
    describeObject(ex->response, c);
    ask = c.info.size < 0;
  } else {
    ask = c.status == 405 || c.status == 501 || (c.status == 403 && hasQuery(normal.value()));
    if (!ask) {
      fail(statusError(c.status, url, c.finalUrl, c.attempts));
      return done();
    }
  }
  if (!ask) return done();

  http::Request get;
  get.url = normal.value();
  get.headers.push_back("Range: bytes=0-0");
  const int64_t budget = std::min(kMaxCheckBody, m_options.maxIgnoredRangeBytes);
  int64_t streamed = 0;
  bool tooBig = false;
  get.onBody = [&](std::string_view chunk) {
    streamed += static_cast<int64_t>(chunk.size());
    if (streamed > budget) {
      tooBig = true;
      return false;
    }
    return true;
  };
  auto ex2 = send(get, m_options, feedback);
  if (!ex2.ok()) {
    fail(ex2.error());
    return done();
  }
  if (ex2->response.stopped && tooBig) {
    // A 2xx answer with a body larger than the budget: the URL works; its size stays unknown.
    c.status = 200;
    return done();
  }
  const http::Response& r = ex2->response;
  // A 206 answers Loom's own one-byte probe, not the object: the object itself is there (200).
  c.status = r.status == 206 ? 200 : r.status;
  c.finalUrl = ex2->finalUrl;
  c.redirects = ex2->redirects;
  c.attempts += ex2->attempts;
  if (r.status == 206 || (r.status >= 200 && r.status < 300)) {
    describeObject(r, c);
    if (r.status != 206 && c.info.size < 0) {
      c.info.size = streamed;  // the whole body came
      c.info.etag = versionTag(r, c.info.size);
    }
  } else if (r.status == 416) {
    // Not even byte 0: an empty object ("bytes */0").
    describeObject(r, c);
    c.info.size = std::max<int64_t>(0, contentRange(r).second);
    c.info.etag = versionTag(r, c.info.size);
    c.status = 200;
  } else {
    fail(statusError(r.status, url, c.finalUrl, c.attempts));
  }
  return done();
}

Result<ObjectInfo> HttpStorage::stat(const std::string& uri) {
  UrlCheck c = check(uri);
  if (!c.info.error.empty()) return Error{c.kind, c.info.error};
  // RemoteStorage reads in ranges up to the known size; an object without one cannot be read.
  if (c.info.size < 0) {
    return Error{ErrorKind::Unsupported,
                 shown(uri) + ": the server tells no size (no Content-Length, no Content-Range) and ignores Range "
                              "requests, so Loom cannot read it in parts"};
  }
  return std::move(c.info);
}

Result<void> HttpStorage::list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                               core::Feedback* feedback) {
  UrlCheck c = check(prefixUri, feedback);
  if (feedback && feedback->isCancelled()) return Error{ErrorKind::Cancelled, "cancelled"};
  if (!c.info.error.empty()) return Error{c.kind, c.info.error};
  const Glob glob(options.glob);
  if (!glob.empty() && !glob.matches(c.info.name)) return {};
  remember(c.info);  // so that reading what was listed needs no second HEAD
  sink(std::move(c.info));
  return {};
}

Result<void> HttpStorage::write(const std::string& uri, std::string_view bytes) {
  auto normal = normalizeHttpUrl(uri);
  if (!normal.ok()) return normal.error();
  http::Request put;
  put.method = "PUT";
  put.url = normal.value();
  put.body.assign(bytes);
  put.headers.push_back("Content-Type: application/octet-stream");
  auto ex = send(put, m_options, nullptr);
  forget(uri);
  if (!ex.ok()) return ex.error();
  const long status = ex->response.status;
  if (status >= 200 && status < 300) return {};
  if (status == 405 || status == 501) {
    return Error{ErrorKind::Unsupported, shown(uri) + ": the server does not accept PUT (" + statusText(status) +
                                             "); http(s) URLs are writable only where the server allows uploads"};
  }
  return statusError(status, uri, ex->finalUrl, ex->attempts);
}

Result<Fetched> HttpStorage::fetch(const std::string& uri, const std::string& etag, int64_t offset, int64_t length) {
  auto normal = normalizeHttpUrl(uri);
  if (!normal.ok()) return normal.error();
  http::Request get;
  get.url = normal.value();
  get.headers.push_back("Range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1));
  // Only a strong ETag may be sent in If-Match (RFC 9110 section 13.1.1); others are compared below.
  if (isStrongEtag(etag)) get.headers.push_back("If-Match: " + etag);
  RangeSink sink;
  sink.offset = offset;
  sink.length = length;
  sink.budget = m_options.maxIgnoredRangeBytes;
  get.onBody = [&](std::string_view chunk) { return sink.take(chunk); };
  auto ex = send(get, m_options, nullptr);
  if (!ex.ok()) return ex.error();
  if (ex->response.stopped) {
    // Stopped on purpose: a server that ignores Range sent the bytes asked for and more was coming.
    // The version stays the one asked for.
    if (sink.complete) return Fetched{std::move(sink.window), etag, -1, false};
    // The only other reason to stop: the bytes asked for lie beyond what may be streamed.
    return Error{ErrorKind::Io, shown(uri) + ": the server ignores Range requests, so reading bytes " +
                                    std::to_string(offset) + "-" + std::to_string(offset + length - 1) +
                                    " would download more than " +
                                    std::to_string(m_options.maxIgnoredRangeBytes >> 20) +
                                    " MiB of the object; refused"};
  }
  const http::Response& r = ex->response;
  if (r.status == 412 || r.status == 416) return Fetched{{}, {}, -1, true};
  if (r.status < 200 || r.status >= 300) return statusError(r.status, uri, ex->finalUrl, ex->attempts);

  Fetched f;
  if (r.status == 206 && !sink.whole) {
    const auto [start, total] = contentRange(r);
    if (start >= 0 && start != offset) {
      return Error{ErrorKind::Io, shown(uri) + ": asked for bytes from " + std::to_string(offset) +
                                      " and the server sent bytes from " + std::to_string(start)};
    }
    f.bytes = std::move(sink.raw);
    f.totalSize = total;
  } else if (r.status == 206) {
    return Error{ErrorKind::Io, shown(uri) + ": the server sent more than the " + std::to_string(length) +
                                    " bytes asked for in a partial answer"};
  } else {
    // 200: the whole object, which was short enough to come completely.
    if (!sink.whole) {
      f.totalSize = static_cast<int64_t>(sink.raw.size());
      if (offset < f.totalSize) f.bytes = sink.raw.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
    } else {
      f.totalSize = sink.seen;
      f.bytes = std::move(sink.window);
    }
  }
  f.etag = versionTag(r, f.totalSize);
  // A weak or derived version cannot go in If-Match; compare it after the fact instead.
  if (!etag.empty() && !f.etag.empty() && !sameVersion(etag, f.etag)) return Fetched{{}, f.etag, f.totalSize, true};
  return f;
}

std::shared_ptr<Storage> httpStorage() {
  static const std::shared_ptr<Storage> instance = std::make_shared<HttpStorage>();
  return instance;
}

}  // namespace loom::storage
