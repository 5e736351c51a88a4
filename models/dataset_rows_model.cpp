#include "dataset_rows_model.h"

#include <QGuiApplication>
#include <QLocale>
#include <QPalette>

namespace loom::models {

namespace {
const QString kRowColumn = QStringLiteral("_row");
}

DatasetRowsModel::DatasetRowsModel(CatalogService* service, QObject* parent)
    : QAbstractTableModel(parent), m_service(service) {
  connect(m_service, &CatalogService::versionReady, this, &DatasetRowsModel::onVersionReady);
  connect(m_service, &CatalogService::rowsReady, this, &DatasetRowsModel::onRowsReady);
  connect(m_service, &CatalogService::requestFailed, this, &DatasetRowsModel::onRequestFailed);
  connect(m_service, &CatalogService::opened, this, [this] {
    // Rows of an earlier catalog are unrelated to the new one; a choice made after open() stands.
    if (m_origin < m_service->openTicket()) clear();
  });
}

void DatasetRowsModel::clear() {
  beginResetModel();
  m_dataset.clear();
  m_version = {};
  m_rows.clear();
  m_errorColumn = -1;
  m_exhausted = false;
  m_versionTicket = m_pageTicket = m_origin = 0;
  endResetModel();
}

void DatasetRowsModel::setDataset(const QString& dataset, qint64 version) {
  clear();
  m_dataset = dataset;
  const QString spec = version > 0 ? dataset + QLatin1Char('@') + QString::number(version) : dataset;
  m_versionTicket = m_origin = m_service->requestVersion(spec);
}

void DatasetRowsModel::onVersionReady(quint64 ticket, const VersionInfo& version) {
  if (ticket != m_versionTicket) return;
  m_versionTicket = 0;
  beginResetModel();
  m_version = version;
  m_errorColumn = columnOf(QStringLiteral("error"));
  endResetModel();
  emit versionLoaded(m_version);
  // Views ask for more only once they have been laid out; the first page is wanted in any case.
  fetchMore({});
}

void DatasetRowsModel::onRowsReady(quint64 ticket, const RowPage& page) {
  if (ticket != m_pageTicket) return;
  m_pageTicket = 0;
  if (page.rows.size() < m_pageSize) m_exhausted = true;
  if (!page.rows.isEmpty()) {
    const int first = static_cast<int>(m_rows.size());
    beginInsertRows({}, first, first + static_cast<int>(page.rows.size()) - 1);
    m_rows.append(page.rows);
    endInsertRows();
  }
  emit pageLoaded(page.offset, static_cast<int>(page.rows.size()));
}

void DatasetRowsModel::onRequestFailed(quint64 ticket, const QString& message) {
  if (ticket == m_versionTicket) {
    m_versionTicket = 0;
  } else if (ticket == m_pageTicket) {
    m_pageTicket = 0;
    m_exhausted = true;  // do not retry in a loop each time the view scrolls
  } else {
    return;
  }
  emit loadFailed(message);
}

bool DatasetRowsModel::canFetchMore(const QModelIndex& parent) const {
  return !parent.isValid() && m_version.isValid() && m_pageTicket == 0 && !m_exhausted &&
         m_rows.size() < m_version.rowCount;
}

void DatasetRowsModel::fetchMore(const QModelIndex& parent) {
  if (!canFetchMore(parent)) return;
  m_pageTicket = m_service->requestRows(m_version.dataset, m_version.version, m_rows.size(), m_pageSize);
}

int DatasetRowsModel::columnOf(const QString& name) const {
  if (!m_version.isValid()) return -1;
  if (name == kRowColumn) return 0;
  for (qsizetype i = 0; i < m_version.columns.size(); ++i)
    if (m_version.columns[i].name == name) return static_cast<int>(i) + 1;
  return -1;
}

QColor DatasetRowsModel::warningColor() {
  // The palette has no warning role: pick the red by how light the cells' background is, so that it
  // reads on light and dark themes alike.
  const QColor base = QGuiApplication::palette().color(QPalette::Base);
  return base.lightness() >= 128 ? QColor(0xb3, 0x26, 0x1e) : QColor(0xff, 0x8a, 0x80);
}

bool DatasetRowsModel::isNumericColumn(int column) const {
  if (column == 0) return true;
  const auto type = m_version.columns.at(column - 1).type;
  return type == core::ColumnType::Integer || type == core::ColumnType::Real;
}

int DatasetRowsModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

int DatasetRowsModel::columnCount(const QModelIndex& parent) const {
  if (parent.isValid() || !m_version.isValid()) return 0;
  return static_cast<int>(m_version.columns.size()) + 1;
}

QVariant DatasetRowsModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const QVariant& value = m_rows.at(index.row()).at(index.column());
  const bool isNull = !value.isValid();
  switch (role) {
    case Qt::DisplayRole:
    case Qt::EditRole:
      if (value.typeId() == QMetaType::QByteArray)
        return tr("‹%n byte(s)›", nullptr, static_cast<int>(value.toByteArray().size()));
      return value;  // raw, so that the delegate formats numbers in the user's locale
    case Qt::TextAlignmentRole: {
      const bool numeric = isNumericColumn(index.column()) || value.typeId() == QMetaType::LongLong ||
                           value.typeId() == QMetaType::Double;
      return QVariant::fromValue((numeric ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter);
    }
    case Qt::ForegroundRole:
      if (isNull) return QGuiApplication::palette().color(QPalette::PlaceholderText);
      if (index.column() == m_errorColumn) return warningColor();
      return {};
    case Qt::ToolTipRole:
      if (isNull) return tr("null");
      if (value.typeId() == QMetaType::QString) return value;  // long URIs and messages are cut in the cell
      return {};
    case IsNullRole: return isNull;
  }
  return {};
}

QVariant DatasetRowsModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= columnCount()) return {};
  const bool rowColumn = section == 0;
  switch (role) {
    case Qt::DisplayRole: return rowColumn ? kRowColumn : m_version.columns.at(section - 1).name;
    case Qt::TextAlignmentRole:
      return QVariant::fromValue((isNumericColumn(section) ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter);
    case Qt::ToolTipRole: {
      if (rowColumn) return tr("Row id within this version (lineage refers to it)");
      const ColumnInfo& c = m_version.columns.at(section - 1);
      const QString type = QString::fromLatin1(core::columnTypeName(c.type));
      return c.doc.isEmpty() ? tr("%1 (%2)").arg(c.name, type) : tr("%1 (%2): %3").arg(c.name, type, c.doc);
    }
    case ColumnTypeRole:
      return rowColumn ? QStringLiteral("integer") : QString::fromLatin1(core::columnTypeName(m_version.columns.at(section - 1).type));
  }
  return {};
}

}  // namespace loom::models
