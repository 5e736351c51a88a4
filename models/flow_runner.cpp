#include "flow_runner.h"

#include <QElapsedTimer>
#include <QFileInfo>
#include <QThread>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "feedback_bridge.h"
#include "flow/flow.h"
#include "nodes/registry.h"

namespace loom::models {

// Written by the worker thread before it ends, read by the GUI thread after joining it.
struct FlowRunner::Outcome {
  bool ok = false;
  RunSummary summary;
  QString error, kind;
};

namespace {

RunSummary toSummary(const exec::RunResult& r) {
  RunSummary s;
  s.runId = r.runId;
  s.status = QString::fromStdString(r.status);
  for (const auto& o : r.outputs) s.outputs.push_back({QString::fromStdString(o.dataset), o.version, o.rows, o.reused});
  for (const auto& n : r.nodes)
    s.nodes.push_back({QString::fromStdString(n.id), QString::fromStdString(n.type), QString::fromStdString(n.status),
                       n.rowsIn, n.rowsOut, n.rowsFailed, n.seconds});
  s.rowsFailed = r.rowsFailed;
  s.calls = r.calls;
  s.callsCached = r.callsCached;
  s.costUsd = r.costUsd;
  return s;
}

}  // namespace

FlowRunner::FlowRunner(QObject* parent) : QObject(parent) {}

FlowRunner::~FlowRunner() {
  if (!m_thread) return;
  m_feedback->cancel();
  m_thread->wait();
  delete m_thread;
}

void FlowRunner::cancel() {
  if (m_feedback) m_feedback->cancel();
}

bool FlowRunner::start(const QString& flowPath, const QString& catalogPath) {
  if (m_thread) return false;
  m_flowPath = QFileInfo(flowPath).absoluteFilePath();
  m_feedback = std::make_unique<FeedbackBridge>();
  connect(m_feedback.get(), &FeedbackBridge::progressed, this, &FlowRunner::progress);
  connect(m_feedback.get(), &FeedbackBridge::infoMessage, this, &FlowRunner::message);
  connect(m_feedback.get(), &FeedbackBridge::warningMessage, this, &FlowRunner::warning);
  m_outcome = std::make_shared<Outcome>();

  const std::string flowFile = m_flowPath.toStdString();
  const std::string catalogFile = catalogPath.toStdString();
  const int threads = m_threads;
  FeedbackBridge* feedback = m_feedback.get();  // outlives the thread: joined before it is reset
  std::shared_ptr<Outcome> outcome = m_outcome;
  m_thread = QThread::create([this, flowFile, catalogFile, threads, feedback, outcome] {
    QElapsedTimer timer;
    timer.start();
    try {
      auto flow = flow::loadFlow(flowFile).orThrow();
      auto catalog = catalog::Catalog::open(catalogFile, true).orThrow();
      exec::Executor executor(*catalog, nodes::NodeRegistry::builtin());
      exec::RunOptions options;
      options.flowPath = flowFile;
      options.threads = threads;
      exec::RunResult result = executor.run(flow, options, *feedback);
      outcome->summary = toSummary(result);
      outcome->summary.flowName = QString::fromStdString(flow.name);
      outcome->summary.flowPath = QString::fromStdString(flowFile);
      outcome->summary.catalogPath = QString::fromStdString(catalog->path());
      outcome->ok = true;
    } catch (const core::RunError& e) {
      outcome->error = QString::fromStdString(e.what());
      outcome->kind = QString::fromLatin1(core::errorKindName(e.kind()));
    } catch (const std::exception& e) {
      outcome->error = QString::fromStdString(e.what());
      outcome->kind = QString::fromLatin1(core::errorKindName(core::ErrorKind::Internal));
    }
    outcome->summary.seconds = static_cast<double>(timer.elapsed()) / 1000.0;
    // Posted after every progress signal of the run, so the outcome arrives last.
    QMetaObject::invokeMethod(this, &FlowRunner::onThreadDone, Qt::QueuedConnection);
  });
  m_thread->setObjectName(QStringLiteral("loom-run"));
  m_thread->start();
  emit started(m_flowPath);
  return true;
}

void FlowRunner::onThreadDone() {
  if (!m_thread) return;
  m_thread->wait();  // the thread has posted its last event; this only joins it
  delete m_thread;
  m_thread = nullptr;
  m_feedback.reset();
  std::shared_ptr<Outcome> outcome = std::move(m_outcome);
  // Emitted with the runner idle, so a slot may start the next run.
  if (outcome->ok)
    emit finished(outcome->summary);
  else
    emit failed(outcome->error, outcome->kind);
}

}  // namespace loom::models
