#pragma once
// A core::Feedback that turns the engine's progress, log lines and cancellation into Qt signals, the
// GUI's side of the feedback object the CLI renders as a console bar.
//
// Threading: the engine calls progress()/info()/warning() from its worker threads, concurrently;
// the signals are emitted on those threads, so connect receivers in other threads with the default
// (queued) connection. Progress is thinned to a few updates a second per stage so that a run of a
// million rows does not flood the receiver's event queue; the first and last update of a stage
// always get through. cancel() may be called from any thread.

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <mutex>
#include <string>

#include "core/feedback.h"

namespace loom::models {

class FeedbackBridge : public QObject, public core::Feedback {
  Q_OBJECT

 public:
  explicit FeedbackBridge(QObject* parent = nullptr);

  void progress(const std::string& stage, int64_t done, int64_t total) override;
  void info(const std::string& message) override;
  void warning(const std::string& message) override;

  // Milliseconds between two progress signals of the same stage (default 100).
  void setProgressInterval(int ms) { m_intervalMs = ms; }

 signals:
  void progressed(const QString& stage, qint64 done, qint64 total);
  void infoMessage(const QString& message);
  void warningMessage(const QString& message);

 private:
  std::mutex m_mutex;
  std::string m_lastStage;
  QElapsedTimer m_sinceLast;
  int m_intervalMs = 100;
};

}  // namespace loom::models
