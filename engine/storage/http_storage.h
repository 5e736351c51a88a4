#pragma once
// http:// and https:// — a URL is one object (not a folder). Works against any web server or CDN:
//
//   stat   HEAD, following redirects (ObjectInfo::uri stays the URL asked for). A server that
//          refuses HEAD (405, 501; also 403 on a URL with a query string, as presigned S3/GCS GET
//          URLs do) or sends no length is asked `Range: bytes=0-0` with GET instead. size from
//          Content-Length / Content-Range; etag is the ETag header (weak ones kept as W/"…", but
//          never sent in If-Match), else "lm:<Last-Modified seconds>-<size>"; mtime from
//          Last-Modified. An object whose size cannot be learnt is an Unsupported error for stat
//          (reads need it), while check() reports it alive with size -1.
//   read   through RemoteStorage's read cache: ranged GETs, If-Match with a strong ETag (412: the
//          object changed, it is re-stat'ed and read anew). A server that ignores Range is read
//          from the start of its 200 answer and cut to the bytes asked for; it is refused when that
//          would download more than HttpOptions::maxIgnoredRangeBytes.
//   list   of a URL lists that one object (filtered by the glob on its name).
//   write  PUT of the whole body: works only where the server accepts PUT (WebDAV, some object
//          stores' presigned PUT URLs); most web servers answer 405, reported as Unsupported.
//
// Errors: 404/410 NotFound, 401/403 PermissionDenied, others Io naming the status, each with the
// URL stripped of its query string (which may carry a token). 5xx, 408, 429 and transport errors
// (resets, timeouts, DNS) are retried with jittered backoff (http_client.h). Redirects are followed
// here, hop by hop, at most maxRedirects, to http(s) only; a loop is named as one. TLS verification
// is always on. No credentials are sent: a private object needs a presigned URL.
//
// Thread-safety: every method may be called from any number of threads at once (one curl handle
// per thread, kept alive between requests).

#include <cstdint>
#include <string>
#include <string_view>

#include "core/feedback.h"
#include "storage/remote.h"

namespace loom::storage {

struct HttpOptions {
  double connectTimeoutSeconds = 10;
  double timeoutSeconds = 60;   // one request (one attempt)
  int maxAttempts = 4;          // retries included
  double retryBaseDelay = 0.25; // seconds; doubles per attempt, with full jitter
  double retryMaxDelay = 8;
  int maxRedirects = 10;
  // A server that ignores Range: bytes a read (or a size check) may pull through its 200 answer.
  int64_t maxIgnoredRangeBytes = int64_t{64} << 20;
};

// What checking one URL found out. Never an exception or a Result error: a broken URL is data.
struct UrlCheck {
  ObjectInfo info;         // uri as asked; error set when the URL is broken
  core::ErrorKind kind = core::ErrorKind::Io;  // meaningful when info.error is set
  // HTTP status of the final answer; 0 when none came (DNS, reset, timeout). The 206 that answers
  // the one-byte GET sent where HEAD is refused is reported as 200: it is the object's status.
  long status = 0;
  std::string mime;        // Content-Type's media type, lower-cased, without parameters
  std::string finalUrl;    // after redirects; empty when no answer came
  int redirects = 0;
  int attempts = 0;        // requests sent, retries and redirect hops included
  double seconds = 0;      // wall time of the whole check
};

// "HTTPS://Example.com:443/a b/c.jpg#x" -> "https://example.com/a%20b/c.jpg": scheme and host
// lower-cased, default port and fragment dropped, bytes that may not appear in a URL (space,
// controls, non-ASCII, "<>\"\\^`{|}", a '%' not followed by two hex digits) %-encoded, an empty
// path made "/". Errors (InvalidInput) say why: not http(s), no host, a bad port, a malformed URL.
core::Result<std::string> normalizeHttpUrl(std::string_view url);

// ObjectInfo::name of a (normalised) URL: its last path segment, decoded; the host for "/".
std::string httpObjectName(std::string_view url);

class HttpStorage final : public RemoteStorage {
 public:
  explicit HttpStorage(HttpOptions options = {});
  std::string scheme() const override { return "https"; }

  core::Result<void> list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                          core::Feedback* feedback = nullptr) override;
  core::Result<ObjectInfo> stat(const std::string& uri) override;
  core::Result<void> write(const std::string& uri, std::string_view bytes) override;

  // stat() with everything the answer said; what storage.urls records per URL.
  UrlCheck check(const std::string& url, core::Feedback* feedback = nullptr);

  const HttpOptions& options() const { return m_options; }

 protected:
  core::Result<Fetched> fetch(const std::string& uri, const std::string& etag, int64_t offset,
                              int64_t length) override;

 private:
  HttpOptions m_options;
};

}  // namespace loom::storage
