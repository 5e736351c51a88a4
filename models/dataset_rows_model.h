#pragma once
// The rows of one dataset version, read lazily: the first page when the version is set, then a page
// each time a view asks for more (canFetchMore/fetchMore), through the CatalogService. Columns are
// "_row" followed by the version's schema.
//
// Presentation: numbers are right-aligned; a null cell shows nothing, in the palette's placeholder
// colour, so it stays distinct from an empty text; a non-null `error` cell is drawn in a warning
// colour derived from the palette.
//
// Threading: GUI thread only. The service is not owned and must outlive the model.

#include <QAbstractTableModel>
#include <QColor>

#include "catalog_service.h"

namespace loom::models {

class DatasetRowsModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Role {
    IsNullRole = Qt::UserRole + 1,  // bool: the cell is SQL NULL
    ColumnTypeRole,                 // header: "integer", "real", "text", "blob", "any"
  };
  static constexpr int kDefaultPageSize = 500;

  explicit DatasetRowsModel(CatalogService* service, QObject* parent = nullptr);

  // Shows `dataset` at `version` (0: the latest). Replies for an earlier choice are ignored.
  void setDataset(const QString& dataset, qint64 version = 0);
  void clear();

  QString datasetName() const { return m_dataset; }
  // The version shown; invalid until versionLoaded().
  const VersionInfo& version() const { return m_version; }
  qint64 totalRows() const { return m_version.rowCount; }
  bool isLoading() const { return m_versionTicket != 0 || m_pageTicket != 0; }
  int pageSize() const { return m_pageSize; }
  void setPageSize(int rows) { m_pageSize = qMax(1, rows); }
  // Index of the column named `name` in this model, or -1.
  int columnOf(const QString& name) const;
  // The colour of a non-null `error` cell: a red that reads well on the palette's base colour.
  static QColor warningColor();

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
  bool canFetchMore(const QModelIndex& parent) const override;
  void fetchMore(const QModelIndex& parent) override;

 signals:
  void versionLoaded(const loom::models::VersionInfo& version);
  void pageLoaded(qint64 offset, int rows);
  void loadFailed(const QString& message);

 private:
  void onVersionReady(quint64 ticket, const VersionInfo& version);
  void onRowsReady(quint64 ticket, const RowPage& page);
  void onRequestFailed(quint64 ticket, const QString& message);
  bool isNumericColumn(int column) const;

  CatalogService* m_service;
  QString m_dataset;
  VersionInfo m_version;
  QList<QVariantList> m_rows;
  int m_errorColumn = -1;
  int m_pageSize = kDefaultPageSize;
  bool m_exhausted = false;     // a page came back short: no more rows whatever the row count said
  quint64 m_versionTicket = 0;  // version lookup in flight
  quint64 m_pageTicket = 0;     // page read in flight
  quint64 m_origin = 0;         // ticket of the request that chose what is shown
};

}  // namespace loom::models
