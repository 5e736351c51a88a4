#include "dataset_list_panel.h"

#include <QHeaderView>
#include <QLineEdit>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

#include "dataset_list_model.h"

namespace loom::widgets {

using models::DatasetListModel;

DatasetListPanel::DatasetListPanel(DatasetListModel* model, QWidget* parent)
    : QWidget(parent), m_model(model), m_proxy(new QSortFilterProxyModel(this)), m_filter(new QLineEdit(this)),
      m_view(new QTableView(this)) {
  m_proxy->setSourceModel(m_model);
  m_proxy->setFilterKeyColumn(DatasetListModel::NameColumn);
  m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
  m_proxy->setSortCaseSensitivity(Qt::CaseInsensitive);
  m_proxy->setSortLocaleAware(true);
  m_proxy->setSortRole(DatasetListModel::SortRole);

  m_filter->setObjectName(QStringLiteral("datasetFilter"));
  m_filter->setPlaceholderText(tr("Filter datasets"));
  m_filter->setClearButtonEnabled(true);
  connect(m_filter, &QLineEdit::textChanged, m_proxy, &QSortFilterProxyModel::setFilterFixedString);

  m_view->setObjectName(QStringLiteral("datasetTable"));
  m_view->setModel(m_proxy);
  m_view->setSortingEnabled(true);
  m_view->sortByColumn(DatasetListModel::NameColumn, Qt::AscendingOrder);
  m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_view->setSelectionMode(QAbstractItemView::SingleSelection);
  m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_view->setAlternatingRowColors(true);
  m_view->setShowGrid(false);
  m_view->setWordWrap(false);
  m_view->setTextElideMode(Qt::ElideMiddle);
  m_view->verticalHeader()->hide();
  m_view->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
  m_view->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
  QHeaderView* header = m_view->horizontalHeader();
  header->setHighlightSections(false);
  header->setSectionResizeMode(QHeaderView::ResizeToContents);
  header->setSectionResizeMode(DatasetListModel::NameColumn, QHeaderView::Stretch);
  // The latest version number is what the viewer's version picker opens on; in the dock it would only
  // repeat the version count and take the room dataset names need.
  m_view->setColumnHidden(DatasetListModel::LatestColumn, true);
  header->setMinimumSectionSize(fontMetrics().horizontalAdvance(QStringLiteral("0000")));

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 2, 4, 4);
  layout->setSpacing(4);
  layout->addWidget(m_filter);
  layout->addWidget(m_view);

  connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& current) {
            emit currentDatasetChanged(current.isValid() ? current.data(DatasetListModel::DatasetNameRole).toString()
                                                         : QString());
          });
}

QSize DatasetListPanel::sizeHint() const {
  // Asked before any dataset is listed, so measure typical contents: a longish name, and beside it
  // the number and time columns, which fit their headers (they are narrower than their titles).
  const QFontMetrics fm = fontMetrics();
  const int cellPadding = fm.horizontalAdvance(QLatin1Char('x')) * 2;
  int width = fm.horizontalAdvance(QStringLiteral("large_product_photos")) + cellPadding;
  const QHeaderView* header = m_view->horizontalHeader();
  for (int c = DatasetListModel::VersionsColumn; c < DatasetListModel::ColumnCount; ++c)
    width += header->sectionSizeHint(c);
  width += m_view->frameWidth() * 2 + layout()->contentsMargins().left() + layout()->contentsMargins().right();
  return {width, QWidget::sizeHint().height()};
}

QString DatasetListPanel::currentDataset() const {
  const QModelIndex current = m_view->currentIndex();
  return current.isValid() ? current.data(DatasetListModel::DatasetNameRole).toString() : QString();
}

bool DatasetListPanel::selectDataset(const QString& name) {
  const int row = m_model->rowOf(name);
  if (row < 0) return false;
  QModelIndex index = m_proxy->mapFromSource(m_model->index(row, DatasetListModel::NameColumn));
  if (!index.isValid()) {  // hidden by the filter
    m_filter->clear();
    index = m_proxy->mapFromSource(m_model->index(row, DatasetListModel::NameColumn));
  }
  m_view->selectionModel()->setCurrentIndex(index,
                                            QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
  m_view->scrollTo(index);
  return true;
}

}  // namespace loom::widgets
