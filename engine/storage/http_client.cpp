#include "storage/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

namespace loom::storage::http {

using core::Error;
using core::ErrorKind;
using core::Result;

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// One easy handle per thread, reused so its connection cache (keep-alive) survives between
// requests; cleaned up when the thread ends.
struct ThreadHandle {
  CURL* easy = nullptr;
  ThreadHandle() {
    static std::once_flag curlReady;
    std::call_once(curlReady, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    easy = curl_easy_init();
  }
  ~ThreadHandle() {
    if (easy) curl_easy_cleanup(easy);
  }
  ThreadHandle(const ThreadHandle&) = delete;
  ThreadHandle& operator=(const ThreadHandle&) = delete;
};

struct Transfer {
  const Request* request = nullptr;
  Response* response = nullptr;
  core::Feedback* feedback = nullptr;
  bool tooLarge = false;
  bool aborted = false;
};

size_t onBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->request->onBody) {
    // Only a successful answer streams; error bodies are kept for their messages.
    if (t->response->status >= 200 && t->response->status < 300) {
      if (!t->request->onBody(std::string_view(data, n))) {
        t->aborted = true;
        return 0;
      }
      return n;
    }
  }
  if (static_cast<int64_t>(t->response->body.size() + n) > t->request->maxBodyBytes) {
    t->tooLarge = true;
    return 0;
  }
  t->response->body.append(data, n);
  return n;
}

size_t onHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new response (after a redirect or a 100 Continue): its headers replace the earlier ones.
    t->response->headers.clear();
    const size_t sp = line.find(' ');
    if (sp != std::string_view::npos) t->response->status = std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(trim(line.substr(0, colon)));
  for (char& c : name) c = lower(c);
  t->response->headers.emplace_back(std::move(name), std::string(trim(line.substr(colon + 1))));
  return n;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return (t->feedback && t->feedback->isCancelled()) ? 1 : 0;
}

// Seconds from a Retry-After header (delta-seconds form only; dates are rare on object stores).
double retryAfterSeconds(const Response& r) {
  const std::string v = r.header("retry-after");
  if (v.empty()) return -1;
  char* end = nullptr;
  const double s = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || s < 0) return -1;
  return std::min(s, 30.0);
}

// A transport error worth another try: the server or network may recover.
bool isRetryableCurl(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_COULDNT_RESOLVE_HOST:
      return true;
    default:
      return false;
  }
}

// One attempt. Fills `response`; returns the curl code.
CURLcode attempt(CURL* e, const Request& req, Response& response, core::Feedback* feedback, Transfer& t,
                 net::Guard& guard, std::string& errbuf) {
  curl_easy_reset(e);
  guard.purpose = req.purpose;
  guard.easy = e;
  guard.url = req.url;
  net::install(guard);
  response = Response{};
  t = Transfer{&req, &response, feedback};
  char err[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
  if (req.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET") {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method == "PUT" || req.method == "POST") {
      // POSTFIELDS (not a read callback) so libcurl's SigV4 hashes the payload it signs.
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, req.body.data());
    }
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  if (!req.awsSigV4.empty()) {
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, req.awsSigV4.c_str());
    curl_easy_setopt(e, CURLOPT_USERPWD, req.awsCredentials.c_str());
  }
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, req.followRedirects ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, req.maxRedirects);
  // Credentials and custom auth headers are never sent on to another host after a redirect.
  curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &onBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &onHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &onProgress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  applyTransportRules(e);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connectTimeoutSeconds * 1000));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeoutSeconds * 1000));
  curl_easy_setopt(e, CURLOPT_USERAGENT, "loom/" LOOM_VERSION);
  const auto started = std::chrono::steady_clock::now();
  const CURLcode code = curl_easy_perform(e);
  response.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (status) response.status = status;
  char* effective = nullptr;
  if (curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective) response.effectiveUrl = effective;
  curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &response.redirects);
  curl_slist_free_all(headers);
  // Unset what points into this frame before the handle is kept for the next request.
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, nullptr);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, nullptr);
  errbuf = err[0] ? err : curl_easy_strerror(code);
  return code;
}

// Waits `seconds`, waking early when the feedback asks to stop.
void pause(double seconds, core::Feedback* feedback) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point until =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < until) {
    if (feedback && feedback->isCancelled()) return;
    const Clock::duration left = until - Clock::now();
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(50), left));
  }
}

}  // namespace

std::string Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (equalsIgnoreCase(k, name)) return v;
  }
  return {};
}

void applyTransportRules(void* easy) {
  auto* e = static_cast<CURL*>(easy);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (const char* ca = std::getenv("LOOM_CA_BUNDLE"); ca && *ca) curl_easy_setopt(e, CURLOPT_CAINFO, ca);
}

std::string tlsFailure(int curlCode, const std::string& detail) {
  const auto code = static_cast<CURLcode>(curlCode);
  if (code == CURLE_SSL_CACERT_BADFILE) {
    return "the CA file could not be read (" + detail + "); check LOOM_CA_BUNDLE";
  }
  if (code != CURLE_PEER_FAILED_VERIFICATION && code != CURLE_SSL_CERTPROBLEM) return {};
  return "the server's TLS certificate could not be verified (" + detail +
         "); Loom never turns verification off: install the issuing CA into the system store, or name its PEM file "
         "in LOOM_CA_BUNDLE";
}

bool isRetryableStatus(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::string urlForDisplay(std::string_view url) {
  const size_t q = url.find_first_of("?#");
  std::string out(q == std::string_view::npos ? url : url.substr(0, q));
  // user:password@ in the authority never reaches a message either.
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t hostStart = scheme + 3;
    const size_t slash = out.find('/', hostStart);
    const size_t at = out.rfind('@', slash == std::string::npos ? out.size() : slash);
    if (at != std::string::npos && at >= hostStart) out.erase(hostStart, at + 1 - hostStart);
  }
  return out;
}

namespace {

std::string_view wsTrim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Object times are kept as nanoseconds since 1970 in an int64_t, which reaches April 2262: a later
// date (a server's "9999-12-31") is no real modification time, and multiplying it overflowed.
constexpr int kLatestYear = 2261;
constexpr int64_t kLatestSeconds = std::numeric_limits<int64_t>::max() / 1'000'000'000 - 86'400;

std::optional<int64_t> fromFields(int year, int month, int day, int hour, int minute, int second) {
  if (year < 1970 || year > kLatestYear || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 ||
      hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm));
}

// Reads exactly `n` digits at s[pos].
bool digits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}
}  // namespace

// Formatted by hand: strftime's %a and %b follow the C locale, which a GUI may have changed.
std::string httpDate(int64_t unixSeconds) {
  const time_t t = static_cast<time_t>(unixSeconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7], tm.tm_mday,
                kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

namespace {
// IMF-fixdate only.
std::optional<int64_t> parseFixdate(std::string_view text) {
  text = wsTrim(text);
  const size_t comma = text.find(',');
  if (comma != std::string_view::npos) text = wsTrim(text.substr(comma + 1));
  // "16 Jan 2024 10:00:00 GMT"
  size_t pos = 0;
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  const size_t daySpace = text.find(' ');
  if (daySpace == std::string_view::npos || daySpace == 0 || daySpace > 2) return std::nullopt;
  if (!digits(text, pos, daySpace, day) || pos >= text.size() || text[pos++] != ' ') return std::nullopt;
  if (pos + 4 > text.size()) return std::nullopt;
  int month = 0;
  for (int m = 0; m < 12; ++m) {
    if (equalsIgnoreCase(text.substr(pos, 3), kMonths[m])) month = m + 1;
  }
  if (month == 0 || text[pos + 3] != ' ') return std::nullopt;
  pos += 4;
  if (!digits(text, pos, 4, year) || pos >= text.size() || text[pos++] != ' ') return std::nullopt;
  if (!digits(text, pos, 2, hour) || pos >= text.size() || text[pos++] != ':') return std::nullopt;
  if (!digits(text, pos, 2, minute) || pos >= text.size() || text[pos++] != ':') return std::nullopt;
  if (!digits(text, pos, 2, second)) return std::nullopt;
  return fromFields(year, month, day, hour, minute, second);
}
}  // namespace

std::optional<int64_t> parseHttpDate(std::string_view text) {
  if (auto t = parseFixdate(text)) return t;
  const std::string copy(wsTrim(text));
  if (copy.empty()) return std::nullopt;
  const time_t t = curl_getdate(copy.c_str(), nullptr);
  if (t < 0 || t > kLatestSeconds) return std::nullopt;
  return static_cast<int64_t>(t);
}

std::optional<int64_t> parseIsoTimeNs(std::string_view text) {
  text = wsTrim(text);
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(text, pos, 4, year) || pos >= text.size() || text[pos++] != '-') return std::nullopt;
  if (!digits(text, pos, 2, month) || pos >= text.size() || text[pos++] != '-') return std::nullopt;
  if (!digits(text, pos, 2, day)) return std::nullopt;
  int64_t offset = 0;
  int64_t fraction = 0;  // nanoseconds
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
    ++pos;
    if (!digits(text, pos, 2, hour) || pos >= text.size() || text[pos++] != ':') return std::nullopt;
    if (!digits(text, pos, 2, minute)) return std::nullopt;
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!digits(text, pos, 2, second)) return std::nullopt;
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int64_t scale = 100'000'000;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          fraction += (text[pos++] - '0') * scale;
          scale /= 10;
        }
      }
    }
    if (pos < text.size()) {
      const char z = text[pos];
      if (z == 'Z' || z == 'z') {
        ++pos;
      } else if (z == '+' || z == '-') {
        ++pos;
        int oh = 0, om = 0;
        if (!digits(text, pos, 2, oh)) return std::nullopt;
        if (pos < text.size() && text[pos] == ':') ++pos;
        if (!digits(text, pos, 2, om)) return std::nullopt;
        offset = (z == '+' ? 1 : -1) * (oh * 3600 + om * 60);
      }
    }
    if (pos != text.size()) return std::nullopt;
  }
  auto t = fromFields(year, month, day, hour, minute, second);
  if (!t) return std::nullopt;
  return (*t - offset) * 1'000'000'000 + fraction;
}

std::string unquoteEtag(std::string_view etag) {
  etag = wsTrim(etag);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

std::string xmlUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) {
      out.push_back('&');
      continue;
    }
    const std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out.push_back('&');
    else if (ent == "lt") out.push_back('<');
    else if (ent == "gt") out.push_back('>');
    else if (ent == "quot") out.push_back('"');
    else if (ent == "apos") out.push_back('\'');
    else if (ent.size() > 1 && ent[0] == '#') {
      const bool hex = ent[1] == 'x' || ent[1] == 'X';
      const std::string digits(ent.substr(hex ? 2 : 1));
      char* end = nullptr;
      const unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (digits.empty() || *end != '\0' || cp > 0x10FFFF) {
        out.append(s.substr(i, semi - i + 1));
      } else if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

void forEachElement(std::string_view xml, std::string_view tag, const std::function<void(std::string_view)>& fn) {
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while (true) {
    size_t start = xml.find(open, pos);
    if (start == std::string_view::npos) return;
    const size_t afterName = start + open.size();
    if (afterName >= xml.size()) return;
    const char next = xml[afterName];
    if (next != '>' && next != ' ' && next != '/' && next != '\t' && next != '\n' && next != '\r') {
      pos = afterName;  // a longer tag name that starts the same (<Key> vs <KeyCount>)
      continue;
    }
    const size_t gt = xml.find('>', afterName);
    if (gt == std::string_view::npos) return;
    if (xml[gt - 1] == '/') {  // <Tag/>: empty
      fn(std::string_view());
      pos = gt + 1;
      continue;
    }
    const size_t end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) return;
    fn(xml.substr(gt + 1, end - gt - 1));
    pos = end + close.size();
  }
}

std::string firstElement(std::string_view xml, std::string_view tag) {
  std::string out;
  bool found = false;
  forEachElement(xml, tag, [&](std::string_view text) {
    if (!found) out = xmlUnescape(text);
    found = true;
  });
  return out;
}

Result<Response> perform(const Request& request, const RetryPolicy& policy, core::Feedback* feedback) {
  thread_local ThreadHandle handle;
  if (!handle.easy) return Error{ErrorKind::Internal, "curl_easy_init failed"};
  thread_local std::mt19937_64 rng(std::random_device{}());
  const int maxAttempts = std::max(1, policy.maxAttempts);
  Response response;
  std::string lastError;
  if (std::string why = net::checkBeforeProxy(request.purpose, request.url); !why.empty()) {
    return Error{ErrorKind::PermissionDenied, urlForDisplay(request.url) + ": " + why};
  }
  for (int n = 0; n < maxAttempts; ++n) {
    if (feedback && feedback->isCancelled()) return Error{ErrorKind::Cancelled, "cancelled"};
    Transfer t;
    net::Guard guard;
    std::string err;
    const CURLcode code = attempt(handle.easy, request, response, feedback, t, guard, err);
    if (!guard.refused.empty()) return Error{ErrorKind::PermissionDenied, urlForDisplay(request.url) + ": " + guard.refused};
    response.attempts = n + 1;
    if (code == CURLE_OK) {
      const bool retry = isRetryableStatus(response.status) &&
                         (policy.retryServerErrors || response.status == 408 || response.status == 429);
      if (!retry || n + 1 == maxAttempts) return response;
      double wait = retryAfterSeconds(response);
      if (wait < 0) {
        std::uniform_real_distribution<double> jitter(0, std::min(policy.maxDelay, policy.baseDelay * std::pow(2.0, n)));
        wait = jitter(rng);
      }
      pause(wait, feedback);
      continue;
    }
    if (t.aborted && feedback && feedback->isCancelled()) return Error{ErrorKind::Cancelled, "cancelled"};
    if (code == CURLE_ABORTED_BY_CALLBACK) return Error{ErrorKind::Cancelled, "cancelled"};
    if (t.tooLarge) {
      return Error{ErrorKind::Io, urlForDisplay(request.url) + ": the answer is larger than " +
                                      std::to_string(request.maxBodyBytes) + " bytes; refused"};
    }
    if (t.aborted) {
      response.stopped = true;  // the reader has what it wanted
      return response;
    }
    lastError = err;
    if (std::string tls = tlsFailure(code, err); !tls.empty()) {
      return Error{ErrorKind::PermissionDenied, urlForDisplay(request.url) + ": " + tls};
    }
    if (!isRetryableCurl(code) || n + 1 == maxAttempts) break;
    // A streamed body may already have been handed on: the caller cannot take a second copy.
    if (request.onBody && response.status >= 200 && response.status < 300) break;
    std::uniform_real_distribution<double> jitter(0, std::min(policy.maxDelay, policy.baseDelay * std::pow(2.0, n)));
    pause(jitter(rng), feedback);
  }
  return Error{ErrorKind::Io, urlForDisplay(request.url) + ": no answer after " + std::to_string(response.attempts) +
                                  " attempt(s): " + lastError};
}

}  // namespace loom::storage::http
