#pragma once
// A server process a test starts and stops: the test servers under tests/support print
// "PORT <n>" on stdout once they listen on a loopback port; the process gets SIGTERM and is reaped
// when the test is done. Plain HTTP calls to the server's control routes go through Loom's own
// client.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/http_client.h"

namespace loom::test {

class ChildProcess {
 public:
  // Starts `args` (args[0] is looked up in PATH) with `env` ("NAME=value") added to the
  // environment. stdout: captured for readPort() when `captureStdout`, else /dev/null.
  explicit ChildProcess(std::vector<std::string> args, const std::vector<std::string>& env = {},
                        bool captureStdout = true) {
    int out[2] = {-1, -1};
    if (captureStdout && pipe(out) != 0) throw std::runtime_error("pipe failed");
    m_pid = fork();
    if (m_pid < 0) throw std::runtime_error("fork failed");
    if (m_pid == 0) {
      // Never outlive a test that died without unwinding (a sanitizer report, a crash): the server
      // would keep CTest's output pipe open and the run would hang until its timeout.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (captureStdout) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
      } else if (FILE* devnull = std::fopen("/dev/null", "w")) {
        dup2(fileno(devnull), STDOUT_FILENO);
      }
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    if (captureStdout) {
      close(out[1]);
      m_out = fdopen(out[0], "r");  // kept open until stop(): the server may print more
    }
  }
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The port from the "PORT <n>" line; stops the process and throws naming `what` when none comes.
  int readPort(const std::string& what) {
    char line[128] = {0};
    int port = 0;
    if (!m_out || !std::fgets(line, sizeof line, m_out) || std::sscanf(line, "PORT %d", &port) != 1) {
      stop();
      throw std::runtime_error(what + " did not start");
    }
    return port;
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

 private:
  pid_t m_pid = -1;
  FILE* m_out = nullptr;
};

// The body of `method url` (with `body` sent when non-empty) from a test server's control route.
inline std::string fetchText(const std::string& method, const std::string& url, const std::string& body = {}) {
  storage::http::Request r;
  r.method = method;
  r.url = url;
  r.body = body;
  r.purpose = storage::net::Purpose::Configured;  // the test's own server, not a URL from data
  auto got = storage::http::perform(r);
  if (!got.ok()) throw std::runtime_error(method + " " + url + " failed: " + got.error().message);
  return got->body;
}

}  // namespace loom::test
