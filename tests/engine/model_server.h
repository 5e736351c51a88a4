#pragma once
// Starts tests/support/model_api_server.py (the model-API test server: OpenAI and Anthropic wire
// formats, usage and rate-limit headers, fault injection) on a free loopback port for one test, and
// stops it afterwards.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace loom::test {

class ModelServer {
 public:
  explicit ModelServer(std::vector<std::string> extraArgs = {}) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    m_pid = fork();
    if (m_pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> args = {"python3", std::string(LOOM_SOURCE_DIR) + "/tests/support/model_api_server.py",
                                       "--port", "0"};
      args.insert(args.end(), extraArgs.begin(), extraArgs.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("python3", argv.data());
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[128] = {0};
    if (!f || !std::fgets(line, sizeof line, f) || std::sscanf(line, "PORT %d", &m_port) != 1) {
      stop();
      throw std::runtime_error("the model-API test server did not start");
    }
    m_out = f;
  }
  ~ModelServer() { stop(); }
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  int port() const { return m_port; }
  std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/v1"; }

  // GET /_stats: {"requests", "by_status", "model_calls_ok", "max_concurrent", "attempts_by_fault", ...}
  nlohmann::json stats() const { return nlohmann::json::parse(fetch("/_stats")); }

 private:
  std::string fetch(const std::string& path) const {
    std::string cmd = "curl -s --max-time 10 http://127.0.0.1:" + std::to_string(m_port) + path;
    FILE* p = popen(cmd.c_str(), "r");
    std::string body;
    char buf[4096];
    size_t n;
    while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) body.append(buf, n);
    if (p) pclose(p);
    return body;
  }
  void stop() {
    if (m_pid > 0) {
      kill(m_pid, SIGTERM);
      waitpid(m_pid, nullptr, 0);
      m_pid = -1;
    }
    if (m_out) {
      std::fclose(m_out);
      m_out = nullptr;
    }
  }
  pid_t m_pid = -1;
  int m_port = 0;
  FILE* m_out = nullptr;
};

}  // namespace loom::test
