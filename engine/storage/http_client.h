#pragma once
// Blocking HTTP(S) requests for the storage backends (s3, az, http): one libcurl easy handle per
// thread, kept between requests so connections stay open (keep-alive, HTTP/2 where the server
// offers it over TLS), TLS verification always on, and retries with capped, jittered exponential
// backoff on transport errors, throttling and 5xx answers.
//
// Secrets stay out of errors: messages name the URL without its query string (which may hold a
// SAS token or a presigned signature) and never the credentials given for signing.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/feedback.h"
#include "core/result.h"
#include "storage/net_guard.h"

namespace loom::storage::http {

struct Request {
  std::string method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent for PUT and POST (Content-Length set from its size)
  // AWS Signature V4 through libcurl: provider string such as "aws:amz:us-east-1:s3" and
  // "ACCESS_KEY:SECRET_KEY". Both empty: the request is sent as it is.
  std::string awsSigV4;
  std::string awsCredentials;
  bool followRedirects = false;
  long maxRedirects = 5;
  // Which addresses the URL may reach (storage/net_guard.h). URLs from flows and data reach public
  // addresses only; backends whose endpoint comes from the person's configuration say Configured.
  net::Purpose purpose = net::Purpose::UrlSource;
  double connectTimeoutSeconds = 15;
  double timeoutSeconds = 120;
  // Body bytes kept at most; a longer body fails the request (protects against endless answers).
  int64_t maxBodyBytes = int64_t{1} << 31;
  // Called for each chunk of a 2xx body instead of storing it (when set); false stops the transfer,
  // which then comes back as a Response with `stopped` set (status and headers intact).
  std::function<bool(std::string_view)> onBody;
};

struct Response {
  long status = 0;
  std::string body;
  // Headers of the final response (after redirects), names lower-cased, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string effectiveUrl;  // the URL that answered (differs from the request after redirects)
  long redirects = 0;
  int attempts = 0;  // requests sent, retries included
  double seconds = 0;
  bool stopped = false;  // Request::onBody stopped the transfer: the body was not read to its end

  // The value of the first header with this (case-insensitive) name, or "".
  std::string header(std::string_view name) const;
};

struct RetryPolicy {
  int maxAttempts = 5;       // 1: no retries
  double baseDelay = 0.2;    // seconds; attempt n waits up to base * 2^n (full jitter)
  double maxDelay = 10.0;    // cap on one wait; a longer Retry-After is honoured up to 30 s
  bool retryServerErrors = true;  // 500, 502, 503, 504 (and 408, 429 always)
};

// Sends the request, retrying per policy. A Result error means no HTTP answer came back after the
// retries (connection refused, DNS, TLS, timeout, cancelled); any HTTP status, 4xx and 5xx
// included, comes back as a Response for the caller to interpret.
core::Result<Response> perform(const Request& request, const RetryPolicy& policy = {},
                               core::Feedback* feedback = nullptr);

// Rules for every request Loom sends, on a libcurl easy handle (CURL*): http and https only, for
// redirects too (never file://, ftp://, gopher://, …); TLS peer and host verification always on;
// LOOM_CA_BUNDLE, when set, names the PEM file of trusted CAs (a company's own CA) in place of the
// system store. Nothing turns verification off.
void applyTransportRules(void* easy);
// For a libcurl result code (CURLcode) that means the server's certificate was not trusted: the
// message to show (with curl's `detail` and what to do); otherwise "". Such failures are not retried.
std::string tlsFailure(int curlCode, const std::string& detail);

// True for statuses worth retrying: 408, 429, 500, 502, 503, 504.
bool isRetryableStatus(long status);

// "https://host/path?query" -> "https://host/path": safe to show (query strings can carry tokens).
std::string urlForDisplay(std::string_view url);

// "Tue, 16 Jan 2024 10:00:00 GMT" (HTTP's IMF-fixdate) for Unix seconds, formatted by hand: the C
// locale's day and month names may have been changed by a GUI.
std::string httpDate(int64_t unixSeconds);
// Unix seconds from an HTTP date (IMF-fixdate; the obsolete RFC 850 and asctime forms through
// libcurl), or nullopt when it is not one.
std::optional<int64_t> parseHttpDate(std::string_view text);
// Nanoseconds since the epoch from ISO 8601 as object stores and SAS tokens write it
// (2024-01-16, 2024-01-16T10:00Z, 2024-01-16T10:00:00.123Z, 2024-01-16T11:00:00+01:00), or nullopt.
std::optional<int64_t> parseIsoTimeNs(std::string_view text);
// The same in whole seconds (the fraction dropped).
inline std::optional<int64_t> parseIsoTime(std::string_view text) {
  const auto ns = parseIsoTimeNs(text);
  if (!ns) return std::nullopt;
  return *ns >= 0 ? *ns / 1'000'000'000 : -((-*ns + 999'999'999) / 1'000'000'000);
}
// An entity tag without surrounding whitespace and double quotes: "abc" -> abc.
std::string unquoteEtag(std::string_view etag);

// Decodes the five predefined XML entities and numeric character references; for the small,
// flat XML documents object stores answer with.
std::string xmlUnescape(std::string_view s);

// Calls `fn` with the text of each <tag>…</tag> element at any depth of `xml`, in order. Flat
// scanning, no DTDs or entities beyond xmlUnescape: enough for S3 and Azure listing answers.
void forEachElement(std::string_view xml, std::string_view tag, const std::function<void(std::string_view)>& fn);
// The unescaped text of the first <tag> element in `xml`, or "" when there is none.
std::string firstElement(std::string_view xml, std::string_view tag);

}  // namespace loom::storage::http
