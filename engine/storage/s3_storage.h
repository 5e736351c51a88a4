#pragma once
// s3:// — Amazon S3 and any S3-compatible endpoint (MinIO, Ceph, R2, …), and gs:// — Google Cloud
// Storage through its S3-compatible XML API with HMAC keys. Requests are signed with AWS Signature
// V4 by libcurl (CURLOPT_AWS_SIGV4); listing is ListObjectsV2, run concurrently across the
// prefixes that a delimiter listing discovers.
//
// Settings follow AWS's own conventions and names (docs/STORAGE.md):
//   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN); else the profile
//                AWS_PROFILE (default "default") in AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials)
//                or AWS_CONFIG_FILE (~/.aws/config); else anonymous (public buckets)
//   region       AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`, else us-east-1; a bucket
//                in another region is found from S3's redirect and remembered
//   endpoint     AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's `endpoint_url` (also inside
//                an `s3 =` block); custom endpoints use path-style addressing unless the profile's
//                `s3 = addressing_style = virtual`
// gs:// uses GS_ACCESS_KEY_ID + GS_SECRET_ACCESS_KEY (HMAC keys), GS_ENDPOINT_URL (default
// https://storage.googleapis.com), path-style addressing and region "auto".

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/http_client.h"
#include "storage/remote.h"

namespace loom::storage {

struct S3Settings {
  std::string scheme = "s3";  // "s3" or "gs"
  std::string accessKey;      // empty: anonymous
  std::string secretKey;
  std::string sessionToken;
  std::string credentialSource;  // for messages: "environment (AWS_ACCESS_KEY_ID)", "profile 'x' in …"
  std::string region = "us-east-1";
  std::string endpoint;  // scheme://host[:port] of a custom endpoint; empty: AWS's own
  bool pathStyle = false;
  int listConcurrency = 8;       // $LOOM_S3_LIST_CONCURRENCY
  int pageSize = 1000;           // keys per ListObjectsV2 page (S3's maximum)
  int64_t partSize = 8 << 20;    // multipart upload part size
  int64_t multipartAbove = 16 << 20;  // objects larger than this are uploaded in parts
};

// Reads the settings for a scheme from the environment and the AWS config files. Never fails:
// problems (an unknown profile, a half-set key pair) are returned in `problem` for the first
// request's error message, and the settings fall back to anonymous access.
S3Settings resolveS3Settings(std::string_view scheme, std::string* problem = nullptr);

// One ListObjectsV2 answer page (a 200 body), parsed. Pure, so the fuzz target (tests/fuzz) and the
// tests reach exactly what list() uses.
struct ListObjectsV2Entry {
  std::string key;            // decoded key
  bool folderMarker = false;  // a zero-byte key ending in '/' that some tools create: not an object
  ObjectInfo object;          // uri = uriPrefix + the %-encoded key
};
struct ListObjectsV2Page {
  std::vector<ListObjectsV2Entry> entries;  // <Contents> with a non-empty <Key>, in the answer's order
  std::vector<std::string> prefixes;        // <CommonPrefixes><Prefix>, delimiter included
  std::string nextToken;                    // continuation token; empty when this was the last page
  int64_t rawCount = 0;                     // <Contents> and <CommonPrefixes> elements, empty keys included
};
// `uriPrefix` is "s3://bucket/" (or "gs://bucket/"). Errors (Corrupt): a body that is not a
// ListBucketResult, or one that says there is more but gives no continuation token; the caller adds
// which listing it was.
core::Result<ListObjectsV2Page> parseListObjectsV2Page(std::string_view xml, const std::string& uriPrefix);

class S3Storage final : public RemoteStorage {
 public:
  explicit S3Storage(S3Settings settings, std::string settingsProblem = {});
  std::string scheme() const override { return m_settings.scheme; }

  // `s3://bucket/dir` lists the objects under "dir/" (or, when there are none, the single object
  // "dir"); `s3://bucket` the whole bucket. Sorted by key, streamed page by page. Zero-byte "folder"
  // marker objects (keys ending in '/') are skipped.
  core::Result<void> list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                          core::Feedback* feedback = nullptr) override;
  core::Result<ObjectInfo> stat(const std::string& uri) override;
  // One PUT up to multipartAbove; larger objects by multipart upload (aborted on failure, so no
  // partial object is ever visible).
  core::Result<void> write(const std::string& uri, std::string_view bytes) override;

  const S3Settings& settings() const { return m_settings; }

 protected:
  core::Result<Fetched> fetch(const std::string& uri, const std::string& etag, int64_t offset,
                              int64_t length) override;

 private:
  struct Target;
  core::Result<Target> parse(const std::string& uri) const;
  core::Result<http::Response> send(const std::string& method, const std::string& bucket,
                                    const std::string& encodedKey, const std::string& query, std::string body,
                                    std::vector<std::string> headers, const std::string& action,
                                    const std::string& shownUri, core::Feedback* feedback = nullptr);
  std::string regionFor(const std::string& bucket) const;
  core::Error describe(const http::Response& r, const std::string& action, const std::string& shownUri) const;

  S3Settings m_settings;
  std::string m_problem;
  mutable std::mutex m_regionMutex;
  std::unordered_map<std::string, std::string> m_bucketRegion;  // learnt from redirects
};

}  // namespace loom::storage
