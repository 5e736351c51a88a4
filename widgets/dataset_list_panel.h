#pragma once
// The contents of the "Datasets" dock: a filter field over a sortable table of the catalog's
// datasets. Emits currentDatasetChanged() when the person picks another dataset.
//
// Threading: GUI thread only. The model is not owned.

#include <QWidget>

class QLineEdit;
class QSortFilterProxyModel;
class QTableView;

namespace loom::models {
class DatasetListModel;
}

namespace loom::widgets {

class DatasetListPanel : public QWidget {
  Q_OBJECT

 public:
  explicit DatasetListPanel(models::DatasetListModel* model, QWidget* parent = nullptr);

  // Name of the current dataset; empty when none.
  QString currentDataset() const;
  // Makes `name` current (clearing the filter if it hides it). False when there is no such dataset.
  bool selectDataset(const QString& name);
  QTableView* view() const { return m_view; }
  // Wide enough for a dataset name and the four number and time columns beside it.
  QSize sizeHint() const override;
  QLineEdit* filterEdit() const { return m_filter; }

 signals:
  void currentDatasetChanged(const QString& name);

 private:
  models::DatasetListModel* m_model;
  QSortFilterProxyModel* m_proxy;
  QLineEdit* m_filter;
  QTableView* m_view;
};

}  // namespace loom::widgets
