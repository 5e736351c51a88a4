#pragma once
// Loom's main window: the "Datasets" dock, the dataset viewer in the middle, the "Run Log" dock, and
// flow runs from File ▸ Run Flow… with their progress and a Cancel button in the status bar.
//
// Ownership: the window owns the catalog service, the models and the flow runner it shows.
// Threading: GUI thread only. Geometry and dock layout are kept in QSettings between sessions.

#include <QMainWindow>

class QAction;
class QDockWidget;
class QLabel;
class QPlainTextEdit;

namespace loom::models {
class CatalogService;
class DatasetListModel;
class DatasetRowsModel;
class FlowRunner;
struct RunSummary;
}  // namespace loom::models

namespace loom::widgets {

class DatasetListPanel;
class DatasetViewer;
class RunStatusWidget;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens (creating when missing) the catalog at `path` and shows its datasets.
  void openCatalog(const QString& path);
  // Runs the flow against the open catalog; false when a run is already going or no catalog is open.
  bool runFlow(const QString& flowPath);
  // Makes `name` the dataset shown; false when the list has no such dataset (yet).
  bool selectDataset(const QString& name);

  QString catalogPath() const;
  // The text of Help ▸ About.
  QString aboutText() const;
  static QString engineVersionsHtml();

  models::CatalogService* catalogService() const { return m_service; }
  models::DatasetListModel* datasetListModel() const { return m_datasets; }
  models::DatasetRowsModel* datasetRowsModel() const { return m_rows; }
  models::FlowRunner* flowRunner() const { return m_runner; }
  DatasetListPanel* datasetListPanel() const { return m_listPanel; }
  DatasetViewer* datasetViewer() const { return m_viewer; }
  RunStatusWidget* runStatus() const { return m_runStatus; }

 public slots:
  void chooseCatalog();
  void chooseFlow();
  void refresh();
  void showAbout();

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void createActions();
  void createMenus();
  void createDocks();
  void restoreSettings();
  void saveSettings() const;
  void onCatalogOpened(const QString& path);
  void onCatalogOpenFailed(const QString& path, const QString& message);
  void onDatasetsRefreshed();
  void onRunFinished(const models::RunSummary& summary);
  void onRunFailed(const QString& message, const QString& kind);
  void appendLog(const QString& line);
  void updateActions();
  void showError(const QString& title, const QString& text, const QString& details);

  models::CatalogService* m_service;
  models::DatasetListModel* m_datasets;
  models::DatasetRowsModel* m_rows;
  models::FlowRunner* m_runner;

  DatasetListPanel* m_listPanel = nullptr;
  DatasetViewer* m_viewer = nullptr;
  QDockWidget* m_datasetsDock = nullptr;
  QDockWidget* m_runLogDock = nullptr;
  QPlainTextEdit* m_runLog = nullptr;
  RunStatusWidget* m_runStatus = nullptr;
  QLabel* m_catalogLabel = nullptr;

  QAction* m_openCatalogAction = nullptr;
  QAction* m_runFlowAction = nullptr;
  QAction* m_refreshAction = nullptr;
  QAction* m_quitAction = nullptr;
  QAction* m_aboutAction = nullptr;

  QString m_selectAfterRefresh;  // a run's output: shown once the refreshed list has it
};

}  // namespace loom::widgets
