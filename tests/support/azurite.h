#pragma once
// Starts azurite's blob service (Microsoft's Azure Storage emulator, installed by
// scripts/install-deps.sh into tests/support/node) on a free loopback port, in memory, and stops it
// when destroyed. azurite takes --blobPort 0 and prints the port it got, so there is no race for a
// port. Also runs tests/support/azure_blob.py, an independent client, against it.
//
// Throws std::runtime_error with a message saying what to do when azurite is missing or does not
// start: the tests that need it fail with that message, never skip.

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace loom::test {

class Azurite {
 public:
  static constexpr const char* kAccount = "devstoreaccount1";
  static constexpr const char* kKey =
      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

  Azurite() {
    const std::string bin = std::string(LOOM_SOURCE_DIR) + "/tests/support/node/node_modules/.bin/azurite-blob";
    if (::access(bin.c_str(), X_OK) != 0) {
      throw std::runtime_error("azurite is not installed (" + bin +
                               " is missing): run scripts/install-deps.sh, which installs the storage test "
                               "servers with npm into tests/support/node");
    }
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    m_pid = ::fork();
    if (m_pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<std::string> args = {
          bin,   "--blobHost",         "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--extentMemoryLimit",
          "512", "--disableTelemetry", "--silent"};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      _exit(127);
    }
    ::close(out[1]);
    m_out = out[0];
    // "Azurite Blob service successfully listens on http://127.0.0.1:PORT"
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::string marker = "successfully listens on http://127.0.0.1:";
    while (m_port == 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{m_out, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[512];
      const ssize_t n = ::read(m_out, buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<size_t>(n));
      const size_t at = seen.find(marker);
      if (at != std::string::npos) {
        const size_t start = at + marker.size();
        size_t end = start;
        while (end < seen.size() && seen[end] >= '0' && seen[end] <= '9') ++end;
        if (end < seen.size()) m_port = std::stoi(seen.substr(start, end - start));
      }
    }
    if (m_port == 0) {
      stop();
      throw std::runtime_error("azurite did not start (output: " + seen +
                               "); run scripts/install-deps.sh to (re)install it and Node.js");
    }
    // Keep reading its output so a chatty azurite can never block on a full pipe.
    m_drain = std::thread([fd = m_out] {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    });
  }
  ~Azurite() { stop(); }
  Azurite(const Azurite&) = delete;
  Azurite& operator=(const Azurite&) = delete;

  int port() const { return m_port; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/" + kAccount; }
  std::string connectionString() const {
    return std::string("DefaultEndpointsProtocol=http;AccountName=") + kAccount + ";AccountKey=" + kKey +
           ";BlobEndpoint=" + endpoint() + ";";
  }

  // Runs tests/support/azure_blob.py with `args` (shell-quoted here) and returns its stdout;
  // throws when it fails. `input` goes to its stdin when not empty.
  std::string client(const std::vector<std::string>& args, const std::string& input = {}) const {
    std::string cmd =
        "python3 '" + std::string(LOOM_SOURCE_DIR) + "/tests/support/azure_blob.py' --endpoint '" + endpoint() + "'";
    for (const auto& a : args) cmd += " " + quoted(a);
    std::string inputFile;
    if (!input.empty()) {
      inputFile = (std::filesystem::temp_directory_path() /
                   ("loom-azure-in-" + std::to_string(::getpid()) + "-" + std::to_string(m_inputs++)))
                      .string();
      std::FILE* f = std::fopen(inputFile.c_str(), "wb");
      if (!f) throw std::runtime_error("cannot write " + inputFile);
      std::fwrite(input.data(), 1, input.size(), f);
      std::fclose(f);
      cmd += " < " + quoted(inputFile);
    }
    std::FILE* p = ::popen(cmd.c_str(), "r");
    std::string result;
    char buf[65536];
    size_t n;
    while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) result.append(buf, n);
    const int status = p ? ::pclose(p) : -1;
    if (!inputFile.empty()) std::filesystem::remove(inputFile);
    if (status != 0) throw std::runtime_error("azure_blob.py failed: " + cmd);
    return result;
  }

 private:
  static std::string quoted(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
      if (c == '\'')
        q += "'\\''";
      else
        q += c;
    }
    return q + "'";
  }
  void stop() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGKILL);  // in-memory data: nothing to flush
      ::waitpid(m_pid, nullptr, 0);
      m_pid = -1;
    }
    if (m_drain.joinable()) m_drain.join();  // the pipe closed with the process
    if (m_out >= 0) {
      ::close(m_out);
      m_out = -1;
    }
  }

  pid_t m_pid = -1;
  int m_out = -1;
  int m_port = 0;
  std::thread m_drain;
  mutable int m_inputs = 0;
};

}  // namespace loom::test
