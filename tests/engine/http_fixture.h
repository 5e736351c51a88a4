#pragma once
// Starts tests/support/http_fixture_server.py (static files with Range/ETag/HEAD, plus fault routes:
// /status/<code>, /slow/<ms>/…, /redirect/<n>/…, /redirect-loop, /flaky/<k>/…, /nohead/…,
// /norange/…, /nolength/…, /reset/…) on a free loopback port for one test, and stops it afterwards.

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_process.h"
#include "storage/http_client.h"

namespace loom::test {

class HttpFixtureServer {
 public:
  // `root`: the folder served. `extraArgs`: e.g. {"--put"} or {"--tls-cert", c, "--tls-key", k}.
  explicit HttpFixtureServer(const std::string& root, std::vector<std::string> extraArgs = {})
      : m_process(args(root, std::move(extraArgs))) {
    m_port = m_process.readPort("the HTTP fixture server");
  }
  HttpFixtureServer(const HttpFixtureServer&) = delete;
  HttpFixtureServer& operator=(const HttpFixtureServer&) = delete;

  int port() const { return m_port; }
  // "http://127.0.0.1:<port>" + path (path starts with '/').
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }

  // GET /_stats: {"requests", "by_method", "by_path", "range_requests", "bytes_sent", "max_concurrent"}.
  nlohmann::json stats() const { return nlohmann::json::parse(fetchText("GET", url("/_stats"))); }
  void resetStats() const { (void)fetchText("POST", url("/_reset")); }

 private:
  static std::vector<std::string> args(const std::string& root, std::vector<std::string> extra) {
    std::vector<std::string> a = {"python3", std::string(LOOM_SOURCE_DIR) + "/tests/support/http_fixture_server.py",
                                  "--port", "0", "--root", root};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  ChildProcess m_process;
  int m_port = 0;
};

}  // namespace loom::test
