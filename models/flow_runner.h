#pragma once
// Runs a .loomflow file with the engine's Executor, the same run path as `loom-cli run`, on a worker
// thread that opens its own Catalog. Progress, log lines and the outcome come back as signals on the
// runner's thread; cancel() stops the run at the next batch (the run record says "cancelled" and a
// later run resumes what was committed).
//
// Threading: create, call and destroy on the GUI thread. One run at a time. Destroying the runner
// during a run cancels it and waits for the engine to stop.

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <memory>

namespace loom::models {

class FeedbackBridge;

struct RunOutputInfo {
  QString dataset;
  qint64 version = 0;
  qint64 rows = 0;
  bool reused = false;  // the content equalled the latest version's; no new version was made
};

struct NodeReportInfo {
  QString id, type, status;  // status: "done", "cached", "resumed"
  qint64 rowsIn = 0, rowsOut = 0, rowsFailed = 0;
  double seconds = 0;
};

struct RunSummary {
  qint64 runId = 0;
  QString status;  // "succeeded"
  QString flowName, flowPath, catalogPath;
  QList<RunOutputInfo> outputs;
  QList<NodeReportInfo> nodes;
  qint64 rowsFailed = 0, calls = 0, callsCached = 0;
  double costUsd = 0;
  double seconds = 0;  // wall time of the whole run
};

class FlowRunner : public QObject {
  Q_OBJECT

 public:
  explicit FlowRunner(QObject* parent = nullptr);
  ~FlowRunner() override;

  // Starts running `flowPath` against the catalog at `catalogPath` (created when missing). Returns
  // false, and does nothing, while another run is going; otherwise started() follows at once and
  // finished() or failed() when the run ends.
  bool start(const QString& flowPath, const QString& catalogPath);
  bool isRunning() const { return m_thread != nullptr; }
  // The flow being run, or the last one run.
  QString flowPath() const { return m_flowPath; }
  // Engine worker threads for the next run; 0 (the default) means one per core.
  void setThreads(int threads) { m_threads = threads; }

 public slots:
  void cancel();

 signals:
  void started(const QString& flowPath);
  // `stage` names what is going on (usually a node id); total < 0 when unknown.
  void progress(const QString& stage, qint64 done, qint64 total);
  void message(const QString& text);
  void warning(const QString& text);
  void finished(const loom::models::RunSummary& summary);
  // `kind` is the engine's machine-readable error kind ("invalid_flow", "cancelled", "budget",
  // "catalog", "not_found", …) for the UI to choose its words; `message` is the engine's English text.
  void failed(const QString& message, const QString& kind);

 private:
  struct Outcome;
  void onThreadDone();

  QThread* m_thread = nullptr;
  std::unique_ptr<FeedbackBridge> m_feedback;
  std::shared_ptr<Outcome> m_outcome;
  QString m_flowPath;
  int m_threads = 0;
};

}  // namespace loom::models

Q_DECLARE_METATYPE(loom::models::RunSummary)
