#include "cli_support.h"

#include <unistd.h>

#include <chrono>
#include <cmath>

namespace loom::cli {

namespace {
double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

size_t utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string utf8Cut(const std::string& s, size_t max) {
  if (utf8Length(s) <= max) return s;
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      if (n == max - 1) break;
      ++n;
    }
    out += s[i];
  }
  return out + "…";
}
}  // namespace

ConsoleFeedback::ConsoleFeedback(bool quiet) : m_tty(isatty(STDERR_FILENO)), m_quiet(quiet), m_start(nowSeconds()) {}

ConsoleFeedback::~ConsoleFeedback() { finish(); }

void ConsoleFeedback::clearLine() {
  if (m_barShown) {
    std::fputs("\r\033[2K", stderr);
    m_barShown = false;
  }
}

void ConsoleFeedback::progress(const std::string& stage, int64_t done, int64_t total) {
  if (!m_tty) return;
  std::lock_guard lock(m_mutex);
  double now = nowSeconds();
  if (now - m_start < 1.0 || now - m_lastDraw < 0.1) return;
  m_lastDraw = now;
  char line[256];
  if (total > 0) {
    int width = 30;
    int filled = static_cast<int>(std::lround(width * static_cast<double>(done) / static_cast<double>(total)));
    filled = std::clamp(filled, 0, width);
    std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.');
    std::snprintf(line, sizeof line, "\r\033[2K%-24.24s [%s] %lld/%lld", stage.c_str(), bar.c_str(),
                  static_cast<long long>(done), static_cast<long long>(total));
  } else {
    std::snprintf(line, sizeof line, "\r\033[2K%-24.24s %lld", stage.c_str(), static_cast<long long>(done));
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
  m_barShown = true;
}

void ConsoleFeedback::info(const std::string& message) {
  if (m_quiet) return;
  std::lock_guard lock(m_mutex);
  clearLine();
  std::fprintf(stderr, "%s\n", message.c_str());
}

void ConsoleFeedback::warning(const std::string& message) {
  std::lock_guard lock(m_mutex);
  clearLine();
  std::fprintf(stderr, "warning: %s\n", message.c_str());
}

void ConsoleFeedback::finish() {
  std::lock_guard lock(m_mutex);
  clearLine();
}

void printTable(std::FILE* out, const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                size_t maxWidth) {
  std::vector<size_t> width(header.size());
  auto cell = [&](const std::string& s) {
    std::string t;
    for (char c : s) t += (c == '\n' || c == '\t' || c == '\r') ? ' ' : c;
    return utf8Cut(t, maxWidth);
  };
  for (size_t i = 0; i < header.size(); ++i) width[i] = utf8Length(header[i]);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], utf8Length(cell(r[i])));
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string c = i < r.size() ? cell(r[i]) : "";
      s += c;
      if (i + 1 < width.size()) s += std::string(width[i] - utf8Length(c) + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::fprintf(out, "%s\n", s.c_str());
  };
  line(header);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& r : rows) line(r);
}

std::string formatUsd(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, usd < 0.01 && usd > 0 ? "$%.6f" : "$%.2f", usd);
  return buf;
}

}  // namespace loom::cli
