#pragma once
// Progress, logging and cancellation for long operations. One Feedback object is handed down a
// run; the CLI renders it as a progress bar, the GUI as signals (bridged in models/).
// Thread-safety: isCancelled() and progress() may be called from any thread.

#include <atomic>
#include <cstdint>
#include <string>

namespace loom::core {

class Feedback {
 public:
  virtual ~Feedback() = default;
  // `stage` names what is going on ("probe meta"); total < 0 when unknown.
  virtual void progress(const std::string& stage, int64_t done, int64_t total) {}
  virtual void info(const std::string& message) {}
  virtual void warning(const std::string& message) {}
  void cancel() { m_cancelled.store(true); }
  bool isCancelled() const { return m_cancelled.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> m_cancelled{false};
};

// ISO-8601 UTC time with milliseconds, e.g. 2026-11-22T03:06:00.123Z.
std::string isoTimeUtc(int64_t unixNanos);
std::string nowIsoUtc();

}  // namespace loom::core
