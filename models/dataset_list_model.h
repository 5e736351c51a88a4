#pragma once
// The catalog's datasets as a table: Dataset, Versions, Latest, Rows, Updated. refresh() asks the
// CatalogService; the reply is merged by name (rows are inserted, updated or removed, never reset),
// so a view keeps its selection and scroll position across refreshes.
//
// Threading: GUI thread only. The service is not owned and must outlive the model.

#include <QAbstractTableModel>

#include "catalog_service.h"

namespace loom::models {

class DatasetListModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { NameColumn, VersionsColumn, LatestColumn, RowsColumn, UpdatedColumn, ColumnCount };
  enum Role {
    DatasetNameRole = Qt::UserRole + 1,
    LatestVersionRole,
    SortRole,  // raw values (numbers, QDateTime) for a sort proxy; the display text is formatted
  };

  explicit DatasetListModel(CatalogService* service, QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

  // Row of the dataset called `name`, or -1.
  int rowOf(const QString& name) const;
  const DatasetInfo& dataset(int row) const { return m_items.at(row); }
  bool isRefreshing() const { return m_ticket != 0; }

 public slots:
  void refresh();

 signals:
  void refreshed();
  void refreshFailed(const QString& message);

 private:
  void apply(QList<DatasetInfo> incoming);

  CatalogService* m_service;
  QList<DatasetInfo> m_items;  // sorted by name
  quint64 m_ticket = 0;        // the refresh in flight, 0 when none
  quint64 m_origin = 0;        // ticket of the refresh that the items came from
};

}  // namespace loom::models
