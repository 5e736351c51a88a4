#include "dataset_list_model.h"

#include <QLocale>
#include <algorithm>
#include <climits>

namespace loom::models {

DatasetListModel::DatasetListModel(CatalogService* service, QObject* parent)
    : QAbstractTableModel(parent), m_service(service) {
  connect(m_service, &CatalogService::opened, this, [this] {
    // Another catalog: its datasets are unrelated to the ones shown, so start over, unless a refresh
    // made after open() is on its way already.
    if (m_origin >= m_service->openTicket() || m_ticket >= m_service->openTicket()) return;
    beginResetModel();
    m_items.clear();
    endResetModel();
    refresh();
  });
  connect(m_service, &CatalogService::datasetsReady, this, [this](quint64 ticket, const QList<DatasetInfo>& list) {
    if (ticket != m_ticket) return;
    m_ticket = 0;
    if (m_origin < m_service->openTicket() && !m_items.isEmpty()) {
      beginResetModel();  // the first list from a newly opened catalog
      m_items.clear();
      endResetModel();
    }
    m_origin = ticket;
    apply(list);
    emit refreshed();
  });
  connect(m_service, &CatalogService::requestFailed, this, [this](quint64 ticket, const QString& message) {
    if (ticket != m_ticket) return;
    m_ticket = 0;
    emit refreshFailed(message);
  });
}

void DatasetListModel::refresh() { m_ticket = m_service->requestDatasets(); }

void DatasetListModel::apply(QList<DatasetInfo> incoming) {
  auto byName = [](const DatasetInfo& a, const DatasetInfo& b) { return a.name < b.name; };
  std::sort(incoming.begin(), incoming.end(), byName);
  // Merge two name-sorted lists so that unchanged rows keep their identity in views.
  qsizetype i = 0, j = 0;
  while (i < m_items.size() || j < incoming.size()) {
    const bool removeHere = j == incoming.size() || (i < m_items.size() && m_items[i].name < incoming[j].name);
    const bool insertHere = !removeHere && (i == m_items.size() || incoming[j].name < m_items[i].name);
    const int row = static_cast<int>(i);
    if (removeHere) {
      beginRemoveRows({}, row, row);
      m_items.removeAt(i);
      endRemoveRows();
    } else if (insertHere) {
      beginInsertRows({}, row, row);
      m_items.insert(i, incoming[j]);
      endInsertRows();
      ++i, ++j;
    } else {
      if (!(m_items[i] == incoming[j])) {
        m_items[i] = incoming[j];
        emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
      }
      ++i, ++j;
    }
  }
}

int DatasetListModel::rowOf(const QString& name) const {
  for (qsizetype i = 0; i < m_items.size(); ++i)
    if (m_items[i].name == name) return static_cast<int>(i);
  return -1;
}

int DatasetListModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(m_items.size());
}

int DatasetListModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant DatasetListModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const DatasetInfo& d = m_items.at(index.row());
  switch (role) {
    case Qt::DisplayRole:
      if (index.column() == UpdatedColumn) return formatCompactDateTime(d.updatedAt);
      [[fallthrough]];
    case Qt::EditRole:
    case SortRole:
      // Numbers stay numbers: the view's delegate formats them in the user's locale, and a sort
      // proxy compares them (and times) by value rather than as text.
      switch (index.column()) {
        case NameColumn: return d.name;
        case VersionsColumn: return d.versions;
        case LatestColumn: return d.latestVersion;
        case RowsColumn: return d.latestRows;
        case UpdatedColumn: return d.updatedAt.isValid() ? QVariant(d.updatedAt.toLocalTime()) : QVariant();
      }
      break;
    case Qt::TextAlignmentRole:
      if (index.column() == NameColumn) return QVariant::fromValue(Qt::AlignLeft | Qt::AlignVCenter);
      return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ToolTipRole:
      if (index.column() == UpdatedColumn && d.updatedAt.isValid())
        return QLocale().toString(d.updatedAt.toLocalTime(), QLocale::LongFormat);
      return tr("%1: %n version(s)", nullptr, static_cast<int>(d.versions)).arg(d.name) + QLatin1Char('\n') +
             tr("The latest, v%1, has %Ln row(s).", nullptr, static_cast<int>(qMin<qint64>(d.latestRows, INT_MAX)))
                 .arg(d.latestVersion);
    case DatasetNameRole: return d.name;
    case LatestVersionRole: return d.latestVersion;
  }
  return {};
}

QVariant DatasetListModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::DisplayRole) {
    switch (section) {
      case NameColumn: return tr("Dataset");
      case VersionsColumn: return tr("Versions");
      case LatestColumn: return tr("Latest");
      case RowsColumn: return tr("Rows");
      case UpdatedColumn: return tr("Updated");
    }
  } else if (role == Qt::TextAlignmentRole) {
    return QVariant::fromValue((section == NameColumn ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignVCenter);
  } else if (role == Qt::ToolTipRole) {
    switch (section) {
      case VersionsColumn: return tr("How many versions were saved");
      case LatestColumn: return tr("Number of the latest version");
      case RowsColumn: return tr("Rows in the latest version");
      case UpdatedColumn: return tr("When the latest version was saved");
    }
  }
  return {};
}

}  // namespace loom::models
