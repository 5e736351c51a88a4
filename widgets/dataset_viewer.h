#pragma once
// The central dataset viewer: the dataset's name, a version picker and a one-line summary above a
// table of the chosen version's rows, read page by page as the person scrolls. Shows a short
// explanation instead of the table when there is nothing to show.
//
// Threading: GUI thread only. The service and the rows model are not owned.

#include <QWidget>

class QComboBox;
class QLabel;
class QStackedWidget;
class QTableView;

namespace loom::models {
class CatalogService;
class DatasetRowsModel;
struct DatasetInfo;
struct VersionInfo;
}  // namespace loom::models

namespace loom::widgets {

class DatasetViewer : public QWidget {
  Q_OBJECT

 public:
  DatasetViewer(models::CatalogService* service, models::DatasetRowsModel* rows, QWidget* parent = nullptr);

  // Shows `dataset` at `version`; 0 shows the latest and keeps following it as new versions are saved.
  void showDataset(const QString& dataset, qint64 version = 0);
  // Shows `message` in place of the table (no dataset, an empty catalog, a failure).
  void showMessage(const QString& message);
  // Tells the viewer the catalog's current state of a dataset, after a refresh: when it is the one
  // shown and has a new version, the version list is updated and, when following, the new latest shown.
  void datasetUpdated(const models::DatasetInfo& info);

  QString dataset() const { return m_dataset; }
  qint64 shownVersion() const;
  QTableView* tableView() const { return m_table; }
  QComboBox* versionCombo() const { return m_versions; }

 private:
  void requestVersions();
  void onVersionsReady(quint64 ticket, const QString& dataset, const QList<models::VersionInfo>& versions);
  void onVersionLoaded(const models::VersionInfo& version);
  void onPageLoaded(qint64 offset, int rows);
  void fitColumns();
  void selectVersionInCombo(qint64 version);
  void copySelection();

  models::CatalogService* m_service;
  models::DatasetRowsModel* m_rows;
  QLabel* m_title;
  QLabel* m_versionLabel;
  QComboBox* m_versions;
  QLabel* m_summary;
  QStackedWidget* m_stack;
  QLabel* m_message;
  QTableView* m_table;
  QString m_dataset;
  bool m_followLatest = true;
  qint64 m_knownLatest = 0;
  quint64 m_versionsTicket = 0;
};

}  // namespace loom::widgets
