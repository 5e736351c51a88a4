#pragma once
// Presentation helpers for loom-cli: the stderr progress bar, text tables, JSON conversion of values.

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/feedback.h"
#include "core/table_text.h"
#include "core/value.h"

namespace loom::cli {

// Renders progress on stderr when it is a terminal, once an operation has taken more than a second;
// log lines go to stderr unless quiet. Thread-safe.
class ConsoleFeedback : public core::Feedback {
 public:
  explicit ConsoleFeedback(bool quiet);
  ~ConsoleFeedback() override;
  void progress(const std::string& stage, int64_t done, int64_t total) override;
  void info(const std::string& message) override;
  void warning(const std::string& message) override;
  void finish();  // clears the bar

 private:
  void clearLine();
  std::mutex m_mutex;
  bool m_tty, m_quiet, m_barShown = false;
  double m_start, m_lastDraw = 0;
};

using core::csvField;
using core::dumpJson;
using core::valueToJson;
using core::valueToText;
// Prints rows as an aligned text table, cells cut to `maxWidth` characters.
void printTable(std::FILE* out, const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                size_t maxWidth = 48);
std::string formatUsd(double usd);

}  // namespace loom::cli
