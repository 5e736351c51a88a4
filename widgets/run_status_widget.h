#pragma once
// The status-bar part that shows a flow run: what is running, a progress bar (busy while the total
// is unknown) and a Cancel button. Hidden while no run is going.
//
// Threading: GUI thread only. The runner is not owned.

#include <QWidget>

class QLabel;
class QProgressBar;
class QToolButton;

namespace loom::models {
class FlowRunner;
}

namespace loom::widgets {

class RunStatusWidget : public QWidget {
  Q_OBJECT

 public:
  explicit RunStatusWidget(models::FlowRunner* runner, QWidget* parent = nullptr);

  QProgressBar* progressBar() const { return m_bar; }
  QToolButton* cancelButton() const { return m_cancel; }

 private:
  void onStarted(const QString& flowPath);
  void onProgress(const QString& stage, qint64 done, qint64 total);
  void onEnded();

  models::FlowRunner* m_runner;
  QLabel* m_label;
  QProgressBar* m_bar;
  QToolButton* m_cancel;
  QString m_flowName;
};

}  // namespace loom::widgets
