#pragma once
// Starts tests/support/http_fixture_server.py (static files with Range/ETag/HEAD, plus fault routes:
// /status/<code>, /slow/<ms>/…, /redirect/<n>/…, /redirect-loop, /flaky/<k>/…, /nohead/…,
// /norange/…, /nolength/…, /reset/…) on a free loopback port for one test, and stops it afterwards.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/http_client.h"

namespace loom::test {

class HttpFixtureServer {
 public:
  // `root`: the folder served. `extraArgs`: e.g. {"--put"} or {"--tls-cert", c, "--tls-key", k}.
  explicit HttpFixtureServer(const std::string& root, std::vector<std::string> extraArgs = {}) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    m_pid = fork();
    if (m_pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> args = {
          "python3", std::string(LOOM_SOURCE_DIR) + "/tests/support/http_fixture_server.py", "--port", "0", "--root",
          root};
      args.insert(args.end(), extraArgs.begin(), extraArgs.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("python3", argv.data());
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[64] = {0};
    if (!f || !std::fgets(line, sizeof line, f) || std::sscanf(line, "PORT %d", &m_port) != 1) {
      if (f) std::fclose(f);
      stop();
      throw std::runtime_error("the HTTP fixture server did not start");
    }
    std::fclose(f);
  }
  ~HttpFixtureServer() { stop(); }
  HttpFixtureServer(const HttpFixtureServer&) = delete;
  HttpFixtureServer& operator=(const HttpFixtureServer&) = delete;

  int port() const { return m_port; }
  // "http://127.0.0.1:<port>" + path (path starts with '/').
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }

  // GET /_stats: {"requests", "by_method", "by_path", "range_requests", "bytes_sent", "max_concurrent"}.
  nlohmann::json stats() const {
    storage::http::Request r;
    r.url = url("/_stats");
    auto got = storage::http::perform(r);
    if (!got.ok() || got->status != 200) throw std::runtime_error("GET /_stats failed");
    return nlohmann::json::parse(got->body);
  }
  void resetStats() const {
    storage::http::Request r;
    r.method = "POST";
    r.url = url("/_reset");
    (void)storage::http::perform(r);
  }

 private:
  void stop() {
    if (m_pid > 0) {
      kill(m_pid, SIGTERM);
      waitpid(m_pid, nullptr, 0);
      m_pid = -1;
    }
  }
  pid_t m_pid = -1;
  int m_port = 0;
};

}  // namespace loom::test
