#include "main_window.h"

#include "core/versions.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QSettings>
#include <QStatusBar>
#include <QStyle>
#include <QTableView>
#include <QToolBar>
#include <climits>
#include <utility>

#include "catalog_service.h"
#include "dataset_list_model.h"
#include "dataset_list_panel.h"
#include "dataset_rows_model.h"
#include "dataset_viewer.h"
#include "flow_runner.h"
#include "run_status_widget.h"

namespace loom::widgets {

namespace {

// Bump when docks or toolbars change in a way an old saved layout would restore wrongly.
constexpr int kStateVersion = 1;
const QString kGeometryKey = QStringLiteral("mainWindow/geometry");
const QString kStateKey = QStringLiteral("mainWindow/state");
const QString kFlowDirKey = QStringLiteral("paths/lastFlowDir");
const QString kCatalogDirKey = QStringLiteral("paths/lastCatalogDir");

QIcon themeIcon(const char* name, QStyle::StandardPixmap fallback, const QStyle* style) {
  return QIcon::fromTheme(QString::fromLatin1(name), style->standardIcon(fallback));
}

}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), m_service(new models::CatalogService(this)),
      m_datasets(new models::DatasetListModel(m_service, this)), m_rows(new models::DatasetRowsModel(m_service, this)),
      m_runner(new models::FlowRunner(this)) {
  setObjectName(QStringLiteral("mainWindow"));
  setWindowTitle(tr("Loom"));
  setDockOptions(AnimatedDocks | AllowTabbedDocks);

  m_viewer = new DatasetViewer(m_service, m_rows, this);
  m_viewer->setObjectName(QStringLiteral("datasetViewer"));
  setCentralWidget(m_viewer);

  createActions();
  createDocks();
  createMenus();

  m_runStatus = new RunStatusWidget(m_runner, this);
  m_runStatus->setObjectName(QStringLiteral("runStatus"));
  m_catalogLabel = new QLabel(this);
  m_catalogLabel->setObjectName(QStringLiteral("catalogLabel"));
  m_catalogLabel->setForegroundRole(QPalette::PlaceholderText);
  statusBar()->addPermanentWidget(m_runStatus);
  statusBar()->addPermanentWidget(m_catalogLabel);

  connect(m_service, &models::CatalogService::opened, this, &MainWindow::onCatalogOpened);
  connect(m_service, &models::CatalogService::openFailed, this, &MainWindow::onCatalogOpenFailed);
  connect(m_datasets, &models::DatasetListModel::refreshed, this, &MainWindow::onDatasetsRefreshed);
  connect(m_datasets, &models::DatasetListModel::refreshFailed, this, [this](const QString& message) {
    statusBar()->showMessage(tr("Could not list the datasets: %1").arg(message), 10000);
  });
  connect(m_listPanel, &DatasetListPanel::currentDatasetChanged, this, [this](const QString& name) {
    if (name.isEmpty())
      m_viewer->showMessage(tr("No dataset selected."));
    else if (name != m_viewer->dataset())
      m_viewer->showDataset(name);
  });
  connect(m_runner, &models::FlowRunner::started, this, [this](const QString& flowPath) {
    appendLog(tr("Running %1").arg(QDir::toNativeSeparators(flowPath)));
    updateActions();
  });
  connect(m_runner, &models::FlowRunner::message, this, &MainWindow::appendLog);
  connect(m_runner, &models::FlowRunner::warning, this,
          [this](const QString& text) { appendLog(tr("Warning: %1").arg(text)); });
  connect(m_runner, &models::FlowRunner::finished, this, &MainWindow::onRunFinished);
  connect(m_runner, &models::FlowRunner::failed, this, &MainWindow::onRunFailed);

  restoreSettings();
  updateActions();
  m_viewer->showMessage(tr("Opening the catalog…"));
}

MainWindow::~MainWindow() = default;

void MainWindow::createActions() {
  m_openCatalogAction = new QAction(themeIcon("document-open", QStyle::SP_DialogOpenButton, style()),
                                    tr("&Open Catalog…"), this);
  m_openCatalogAction->setShortcut(QKeySequence::Open);
  m_openCatalogAction->setStatusTip(tr("Open another Loom catalog file"));
  m_openCatalogAction->setToolTip(tr("Open Catalog (%1)").arg(m_openCatalogAction->shortcut().toString(QKeySequence::NativeText)));
  connect(m_openCatalogAction, &QAction::triggered, this, &MainWindow::chooseCatalog);

  m_runFlowAction = new QAction(themeIcon("media-playback-start", QStyle::SP_MediaPlay, style()), tr("&Run Flow…"), this);
  m_runFlowAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
  m_runFlowAction->setStatusTip(tr("Run a .loomflow file against this catalog"));
  m_runFlowAction->setToolTip(tr("Run Flow (%1)").arg(m_runFlowAction->shortcut().toString(QKeySequence::NativeText)));
  connect(m_runFlowAction, &QAction::triggered, this, &MainWindow::chooseFlow);

  m_refreshAction = new QAction(themeIcon("view-refresh", QStyle::SP_BrowserReload, style()), tr("Re&fresh"), this);
  m_refreshAction->setShortcut(QKeySequence::Refresh);
  m_refreshAction->setStatusTip(tr("Read the catalog's datasets again"));
  connect(m_refreshAction, &QAction::triggered, this, &MainWindow::refresh);

  m_quitAction = new QAction(themeIcon("application-exit", QStyle::SP_DialogCloseButton, style()), tr("&Quit"), this);
  m_quitAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
  m_quitAction->setMenuRole(QAction::QuitRole);
  connect(m_quitAction, &QAction::triggered, this, &QWidget::close);

  m_aboutAction = new QAction(tr("&About Loom"), this);
  m_aboutAction->setMenuRole(QAction::AboutRole);
  connect(m_aboutAction, &QAction::triggered, this, &MainWindow::showAbout);
}

void MainWindow::createDocks() {
  m_listPanel = new DatasetListPanel(m_datasets, this);
  m_listPanel->setObjectName(QStringLiteral("datasetListPanel"));
  m_datasetsDock = new QDockWidget(tr("Datasets"), this);
  m_datasetsDock->setObjectName(QStringLiteral("datasetsDock"));
  m_datasetsDock->setWidget(m_listPanel);
  m_datasetsDock->setAllowedAreas(Qt::LeftDockWidgetArea | Qt::RightDockWidgetArea);
  addDockWidget(Qt::LeftDockWidgetArea, m_datasetsDock);

  m_runLog = new QPlainTextEdit(this);
  m_runLog->setObjectName(QStringLiteral("runLog"));
  m_runLog->setReadOnly(true);
  m_runLog->setMaximumBlockCount(5000);
  m_runLog->setLineWrapMode(QPlainTextEdit::NoWrap);
  m_runLog->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  m_runLog->setPlaceholderText(tr("Messages from flow runs appear here."));
  m_runLogDock = new QDockWidget(tr("Run Log"), this);
  m_runLogDock->setObjectName(QStringLiteral("runLogDock"));
  m_runLogDock->setWidget(m_runLog);
  addDockWidget(Qt::BottomDockWidgetArea, m_runLogDock);
}

void MainWindow::createMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(m_openCatalogAction);
  file->addAction(m_runFlowAction);
  file->addSeparator();
  file->addAction(m_quitAction);

  auto* toolBar = new QToolBar(tr("Main Toolbar"), this);
  toolBar->setObjectName(QStringLiteral("mainToolBar"));
  toolBar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  toolBar->setMovable(false);
  toolBar->addAction(m_openCatalogAction);
  toolBar->addAction(m_runFlowAction);
  toolBar->addAction(m_refreshAction);
  addToolBar(Qt::TopToolBarArea, toolBar);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  view->addAction(m_datasetsDock->toggleViewAction());
  view->addAction(m_runLogDock->toggleViewAction());
  view->addAction(toolBar->toggleViewAction());
  view->addSeparator();
  view->addAction(m_refreshAction);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(m_aboutAction);
}

void MainWindow::restoreSettings() {
  QSettings settings;
  if (!restoreGeometry(settings.value(kGeometryKey).toByteArray())) resize(1280, 800);
  if (!restoreState(settings.value(kStateKey).toByteArray(), kStateVersion)) {
    // First start: the rows get most of the width (the dataset list needs about 60 characters for its five columns);
    // the log gets a few lines.
    resizeDocks({m_runLogDock}, {fontMetrics().height() * 8}, Qt::Vertical);
    resizeDocks({m_datasetsDock}, {fontMetrics().averageCharWidth() * 60}, Qt::Horizontal);
  }
}

void MainWindow::saveSettings() const {
  QSettings settings;
  settings.setValue(kGeometryKey, saveGeometry());
  settings.setValue(kStateKey, saveState(kStateVersion));
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (m_runner->isRunning()) {
    const auto answer = QMessageBox::question(
        this, tr("Quit Loom"),
        tr("A flow is running. Cancel it and quit?\n\nWhat the run has saved so far is kept, and running the "
           "flow again resumes from there."),
        QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
    if (answer != QMessageBox::Yes) {
      event->ignore();
      return;
    }
  }
  saveSettings();
  event->accept();
}

void MainWindow::openCatalog(const QString& path) {
  statusBar()->showMessage(tr("Opening %1…").arg(QDir::toNativeSeparators(path)));
  m_service->open(path);
}

QString MainWindow::catalogPath() const { return m_service->catalogPath(); }

void MainWindow::onCatalogOpened(const QString& path) {
  const QString native = QDir::toNativeSeparators(path);
  setWindowTitle(tr("%1 — Loom").arg(QFileInfo(path).fileName()));
  setWindowFilePath(path);
  m_catalogLabel->setText(tr("Catalog: %1").arg(native));
  m_catalogLabel->setToolTip(native);
  statusBar()->showMessage(tr("Opened %1").arg(native), 5000);
  m_viewer->showMessage(tr("Reading datasets…"));
  updateActions();
}

void MainWindow::onCatalogOpenFailed(const QString& path, const QString& message) {
  statusBar()->clearMessage();
  showError(tr("Open Catalog"), tr("Could not open the catalog %1.").arg(QDir::toNativeSeparators(path)), message);
  if (!m_service->isOpen()) m_viewer->showMessage(tr("No catalog is open. Use File ▸ Open Catalog… to pick one."));
  updateActions();
}

void MainWindow::chooseCatalog() {
  QSettings settings;
  const QString dir = settings.value(kCatalogDirKey, QFileInfo(catalogPath()).absolutePath()).toString();
  const QString path = QFileDialog::getOpenFileName(this, tr("Open Catalog"), dir,
                                                    tr("Loom catalogs (*.db);;All files (*)"));
  if (path.isEmpty()) return;
  settings.setValue(kCatalogDirKey, QFileInfo(path).absolutePath());
  openCatalog(path);
}

void MainWindow::chooseFlow() {
  QSettings settings;
  const QString dir = settings.value(kFlowDirKey, QDir::homePath()).toString();
  const QString path =
      QFileDialog::getOpenFileName(this, tr("Run Flow"), dir, tr("Loom flows (*.loomflow);;All files (*)"));
  if (path.isEmpty()) return;
  settings.setValue(kFlowDirKey, QFileInfo(path).absolutePath());
  runFlow(path);
}

bool MainWindow::runFlow(const QString& flowPath) {
  if (!m_service->isOpen() || m_runner->isRunning()) return false;
  return m_runner->start(flowPath, m_service->catalogPath());
}

bool MainWindow::selectDataset(const QString& name) { return m_listPanel->selectDataset(name); }

void MainWindow::refresh() {
  if (m_service->isOpen()) m_datasets->refresh();
}

void MainWindow::onDatasetsRefreshed() {
  const int shownRow = m_datasets->rowOf(m_viewer->dataset());
  if (shownRow >= 0) m_viewer->datasetUpdated(m_datasets->dataset(shownRow));

  if (!m_selectAfterRefresh.isEmpty() && m_datasets->rowOf(m_selectAfterRefresh) >= 0) {
    const QString name = std::exchange(m_selectAfterRefresh, QString());
    if (name == m_viewer->dataset())
      m_viewer->showDataset(name);  // a run's new output: show its latest version even if an old one was picked
    else
      selectDataset(name);
    return;
  }
  if (m_datasets->rowCount() == 0) {
    m_viewer->showMessage(tr("This catalog has no datasets yet.\n\nRun a flow (File ▸ Run Flow…, %1): its "
                             "dataset.save nodes make datasets.")
                              .arg(m_runFlowAction->shortcut().toString(QKeySequence::NativeText)));
    return;
  }
  if (m_listPanel->currentDataset().isEmpty()) {
    // Nothing picked yet: show the first dataset in the list's order rather than an empty viewer.
    QTableView* view = m_listPanel->view();
    view->selectionModel()->setCurrentIndex(view->model()->index(0, 0),
                                            QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
  }
}

void MainWindow::onRunFinished(const models::RunSummary& s) {
  QStringList outputs;
  for (const auto& o : s.outputs)
    outputs << (o.reused ? tr("%1@%2 unchanged").arg(o.dataset).arg(o.version)
                         : tr("%1@%2 (%Ln row(s))", nullptr, static_cast<int>(qMin<qint64>(o.rows, INT_MAX)))
                               .arg(o.dataset)
                               .arg(o.version));
  QString line = tr("Run %1 of %2 finished in %3 s").arg(s.runId).arg(s.flowName).arg(QLocale().toString(s.seconds, 'f', 1));
  if (!outputs.isEmpty()) line += QStringLiteral(": ") + outputs.join(QStringLiteral(", "));
  if (s.rowsFailed > 0) line += tr("; %Ln row(s) failed", nullptr, static_cast<int>(qMin<qint64>(s.rowsFailed, INT_MAX)));
  appendLog(line);
  statusBar()->showMessage(line, 15000);
  if (!s.outputs.isEmpty()) m_selectAfterRefresh = s.outputs.first().dataset;
  updateActions();
  refresh();
}

void MainWindow::onRunFailed(const QString& message, const QString& kind) {
  const QString flow = QFileInfo(m_runner->flowPath()).fileName();
  appendLog(tr("Run of %1 stopped: %2").arg(flow, message));
  updateActions();
  refresh();  // a failed run may still have saved datasets before it stopped
  if (kind == QLatin1String("cancelled")) {
    statusBar()->showMessage(tr("Run of %1 cancelled. Running it again resumes where it stopped.").arg(flow), 15000);
    return;
  }
  QString text;
  if (kind == QLatin1String("invalid_flow"))
    text = tr("The flow %1 has problems and did not run.").arg(flow);
  else if (kind == QLatin1String("not_found"))
    text = tr("Something the flow %1 needs was not found.").arg(flow);
  else if (kind == QLatin1String("budget"))
    text = tr("The flow %1 stopped: its spending budget was reached.").arg(flow);
  else if (kind == QLatin1String("catalog"))
    text = tr("The flow %1 stopped: the catalog could not be written.").arg(flow);
  else
    text = tr("The flow %1 failed.").arg(flow);
  statusBar()->showMessage(text, 15000);
  showError(tr("Run Flow"), text, message);
}

void MainWindow::appendLog(const QString& line) {
  m_runLog->appendPlainText(QTime::currentTime().toString(QStringLiteral("HH:mm:ss")) + QStringLiteral("  ") + line);
}

void MainWindow::updateActions() {
  const bool running = m_runner->isRunning();
  m_openCatalogAction->setEnabled(!running);
  m_runFlowAction->setEnabled(!running && m_service->isOpen());
  m_refreshAction->setEnabled(m_service->isOpen());
}

void MainWindow::showError(const QString& title, const QString& text, const QString& details) {
  // Window-modal and asynchronous: the window keeps updating behind it, and nothing waits on it.
  auto* box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, this);
  box->setInformativeText(details);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->open();
}

QString MainWindow::aboutText() const {
  return tr("<h3>Loom %1</h3>"
            "<p>A desktop workbench for multimodal AI data: look at assets where they live, transform them "
            "with flows, and get versioned, traceable datasets.</p>"
            "<p>Qt %2 (built with %3)</p>")
             .arg(QStringLiteral(LOOM_VERSION), QString::fromLatin1(qVersion()), QStringLiteral(QT_VERSION_STR)) +
         engineVersionsHtml();
}

QString MainWindow::engineVersionsHtml() {
  QString rows;
  for (const auto& [name, version] : core::componentVersions())
    if (name != "Loom")
      rows += QStringLiteral("%1 %2<br>").arg(QString::fromStdString(name).toHtmlEscaped(),
                                             QString::fromStdString(version).toHtmlEscaped());
  return QStringLiteral("<p>") + rows + QStringLiteral("</p>");
}

void MainWindow::showAbout() { QMessageBox::about(this, tr("About Loom"), aboutText()); }

}  // namespace loom::widgets
