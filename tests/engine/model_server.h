#pragma once
// Starts tests/support/model_api_server.py (the model-API test server: OpenAI and Anthropic wire
// formats, usage and rate-limit headers, fault injection) on a free loopback port for one test, and
// stops it afterwards.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "child_process.h"

namespace loom::test {

class ModelServer {
 public:
  explicit ModelServer(std::vector<std::string> extraArgs = {}) : m_process(args(std::move(extraArgs))) {
    m_port = m_process.readPort("the model-API test server");
  }

  int port() const { return m_port; }
  std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/v1"; }

  // GET /_stats: {"requests", "by_status", "model_calls_ok", "max_concurrent", "attempts_by_fault", ...}
  nlohmann::json stats() const {
    return nlohmann::json::parse(fetchText("GET", "http://127.0.0.1:" + std::to_string(m_port) + "/_stats"));
  }

 private:
  static std::vector<std::string> args(std::vector<std::string> extra) {
    std::vector<std::string> a = {"python3", std::string(LOOM_SOURCE_DIR) + "/tests/support/model_api_server.py",
                                  "--port", "0"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  ChildProcess m_process;
  int m_port = 0;
};

}  // namespace loom::test
