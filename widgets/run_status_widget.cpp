#include "run_status_widget.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QProgressBar>
#include <QStyle>
#include <QToolButton>
#include <algorithm>

#include "flow_runner.h"

namespace loom::widgets {

RunStatusWidget::RunStatusWidget(models::FlowRunner* runner, QWidget* parent)
    : QWidget(parent), m_runner(runner), m_label(new QLabel(this)), m_bar(new QProgressBar(this)),
      m_cancel(new QToolButton(this)) {
  m_label->setObjectName(QStringLiteral("runLabel"));
  m_bar->setObjectName(QStringLiteral("runProgress"));
  m_bar->setFixedWidth(fontMetrics().horizontalAdvance(QLatin1Char('x')) * 28);
  m_bar->setTextVisible(false);
  m_cancel->setObjectName(QStringLiteral("runCancel"));
  m_cancel->setText(tr("Cancel"));
  m_cancel->setIcon(QIcon::fromTheme(QStringLiteral("process-stop"), style()->standardIcon(QStyle::SP_BrowserStop)));
  m_cancel->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  m_cancel->setAutoRaise(true);
  m_cancel->setToolTip(tr("Stop the run after the batch in progress; what was saved is kept"));

  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(6);
  layout->addWidget(m_label);
  layout->addWidget(m_bar);
  layout->addWidget(m_cancel);

  connect(m_cancel, &QToolButton::clicked, this, [this] {
    m_runner->cancel();
    m_cancel->setEnabled(false);
    m_label->setText(tr("Cancelling %1…").arg(m_flowName));
  });
  connect(m_runner, &models::FlowRunner::started, this, &RunStatusWidget::onStarted);
  connect(m_runner, &models::FlowRunner::progress, this, &RunStatusWidget::onProgress);
  connect(m_runner, &models::FlowRunner::finished, this, &RunStatusWidget::onEnded);
  connect(m_runner, &models::FlowRunner::failed, this, &RunStatusWidget::onEnded);
  hide();
}

void RunStatusWidget::onStarted(const QString& flowPath) {
  m_flowName = QFileInfo(flowPath).fileName();
  m_label->setText(tr("Running %1…").arg(m_flowName));
  m_bar->setRange(0, 0);
  m_cancel->setEnabled(true);
  show();
}

void RunStatusWidget::onProgress(const QString& stage, qint64 done, qint64 total) {
  if (!m_cancel->isEnabled()) return;  // keep saying "Cancelling…"
  const QLocale locale;
  if (total > 0) {
    // QProgressBar takes int: scale to per-mille so that huge row counts still fit.
    m_bar->setRange(0, 1000);
    m_bar->setValue(static_cast<int>(std::clamp<qint64>(done * 1000 / total, 0, 1000)));
    m_label->setText(tr("%1 — %2: %3 of %4").arg(m_flowName, stage, locale.toString(done), locale.toString(total)));
  } else {
    m_bar->setRange(0, 0);
    m_label->setText(done > 0 ? tr("%1 — %2: %3").arg(m_flowName, stage, locale.toString(done))
                              : tr("%1 — %2").arg(m_flowName, stage));
  }
}

void RunStatusWidget::onEnded() {
  hide();
  m_bar->reset();
}

}  // namespace loom::widgets
