#pragma once
// Starts a real S3 protocol server for one test: s3rver (tests/support/node, installed by
// scripts/install-deps.sh) on a free loopback port, behind tests/support/s3_sigv4_proxy.py, which
// checks every request's AWS Signature V4 and injects S3 faults on demand. Clients talk to
// endpoint(); the proxy's counters tell what they sent.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"

namespace loom::test {

inline int freeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("no free loopback port");
  }
  const int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

inline bool portAnswers(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

struct S3ServerOptions {
  std::vector<std::string> buckets = {"bucket"};
  std::vector<std::string> proxyArgs;  // e.g. {"--public-bucket", "open", "--expired-key", "OLDKEY"}
};

class S3Server {
 public:
  static constexpr const char* kAccessKey = "S3RVER";  // s3rver's own defaults
  static constexpr const char* kSecretKey = "S3RVER";

  explicit S3Server(const S3ServerOptions& options = {}) {
    const std::string s3rver = std::string(LOOM_SOURCE_DIR) + "/tests/support/node/node_modules/.bin/s3rver";
    if (!std::filesystem::exists(s3rver)) {
      throw std::runtime_error("s3rver is not installed at " + s3rver + ": run scripts/install-deps.sh");
    }
    m_dir = std::filesystem::temp_directory_path() / ("loom-s3rver-" + std::to_string(getpid()) + "-" +
                                                      std::to_string(++counter()));
    std::filesystem::create_directories(m_dir);
    const int upstream = freeLoopbackPort();
    std::vector<std::string> args = {"node", s3rver, "--directory", m_dir.string(), "--address", "127.0.0.1",
                                     "--port", std::to_string(upstream), "--silent"};
    for (const auto& b : options.buckets) {
      args.push_back("--configure-bucket");
      args.push_back(b);
    }
    // s3rver on Node 20 fails continuation-token listings without the legacy OpenSSL provider. It
    // greets on stdout, which goes nowhere.
    m_s3rver = std::make_unique<ChildProcess>(args, std::vector<std::string>{"NODE_OPTIONS=--openssl-legacy-provider"},
                                              false);
    waitFor(upstream, "s3rver");

    std::vector<std::string> proxy = {"python3", std::string(LOOM_SOURCE_DIR) + "/tests/support/s3_sigv4_proxy.py",
                                      "--upstream", "http://127.0.0.1:" + std::to_string(upstream),
                                      "--access-key", kAccessKey, "--secret-key", kSecretKey, "--port", "0"};
    proxy.insert(proxy.end(), options.proxyArgs.begin(), options.proxyArgs.end());
    m_proxy = std::make_unique<ChildProcess>(proxy);
    m_port = m_proxy->readPort("the S3 signature-checking proxy");
  }
  ~S3Server() { stop(); }
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(m_port); }

  // {"requests", "by_method", "lists", "gets", "bytes_out", "signature_failures", "faults_served"}
  nlohmann::json stats() const { return nlohmann::json::parse(fetchText("GET", endpoint() + "/_loom/stats")); }
  void reset() const { fetchText("POST", endpoint() + "/_loom/reset"); }
  // The next `count` requests whose "METHOD /path?query" contains `match` fail with `status`
  // (0: the connection is reset without an answer) and S3 error `code`.
  void fault(int status, const std::string& code, int count, const std::string& match = "") const {
    fetchText("POST", endpoint() + "/_loom/faults",
              nlohmann::json{{"status", status}, {"code", code}, {"count", count}, {"match", match}}.dump());
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  static void waitFor(int port, const char* what) {
    for (int i = 0; i < 300; ++i) {
      if (portAnswers(port)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error(std::string(what) + " did not start listening within 15 s");
  }
  void stop() {
    m_proxy.reset();
    m_s3rver.reset();
    std::error_code ec;
    if (!m_dir.empty()) std::filesystem::remove_all(m_dir, ec);
  }

  std::filesystem::path m_dir;
  std::unique_ptr<ChildProcess> m_s3rver;
  std::unique_ptr<ChildProcess> m_proxy;
  int m_port = 0;
};

}  // namespace loom::test
