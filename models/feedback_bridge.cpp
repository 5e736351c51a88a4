#include "feedback_bridge.h"

namespace loom::models {

FeedbackBridge::FeedbackBridge(QObject* parent) : QObject(parent) {}

void FeedbackBridge::progress(const std::string& stage, int64_t done, int64_t total) {
  // Emitting under the lock keeps updates from several engine threads in order: a queued emission
  // only posts an event, so the lock is held briefly.
  std::lock_guard lock(m_mutex);
  const bool newStage = stage != m_lastStage;
  const bool last = total >= 0 && done >= total;
  if (!newStage && !last && m_sinceLast.isValid() && m_sinceLast.elapsed() < m_intervalMs) return;
  m_lastStage = stage;
  m_sinceLast.start();
  emit progressed(QString::fromStdString(stage), done, total);
}

void FeedbackBridge::info(const std::string& message) { emit infoMessage(QString::fromStdString(message)); }

void FeedbackBridge::warning(const std::string& message) { emit warningMessage(QString::fromStdString(message)); }

}  // namespace loom::models
