#include "dataset_viewer.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDateTime>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLocale>
#include <QScrollBar>
#include <QStyle>
#include <QStackedWidget>
#include <QStyledItemDelegate>
#include <QTableView>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>

#include "catalog_service.h"
#include "dataset_rows_model.h"

namespace loom::widgets {

using models::DatasetInfo;
using models::DatasetRowsModel;
using models::VersionInfo;

namespace {

constexpr int kMessagePage = 0;
constexpr int kTablePage = 1;

// Fitting columns: each column first gets the width of its contents (up to kMaxFitChars average
// characters). When together they are wider than the view, columns are cut down until they fit:
// first the object-reference columns (uri, etag: long, repetitive, and the same in every
// dataset of objects) down to kMinReferenceChars, then the widest of the others down to kMinFitChars.
// Cut cells keep their full text in a tooltip; past the minimums the view scrolls sideways instead.
constexpr int kMaxFitChars = 48;
constexpr int kMinFitChars = 12;
constexpr int kMinReferenceChars = 11;

// Lowers the widest of `widths[columns]` to one common level so that the whole row loses `excess`
// pixels, never taking a column below `minWidth`. Returns the pixels it could not take.
int squeeze(QList<int>& widths, const QList<int>& columns, int excess, int minWidth) {
  if (excess <= 0 || columns.isEmpty()) return std::max(excess, 0);
  QList<int> sorted;
  for (int c : columns) sorted << widths[c];
  std::sort(sorted.begin(), sorted.end());
  int total = 0;
  for (int w : sorted) total += w;
  // Find the level: all columns wider than it are set to it, the rest keep their width.
  int target = total - excess, below = 0, level = minWidth;
  for (qsizetype i = 0; i < sorted.size(); ++i) {
    const int share = (target - below) / static_cast<int>(sorted.size() - i);
    if (sorted[i] > share) {
      level = share;
      break;
    }
    below += sorted[i];
    level = sorted[i];
  }
  level = std::max(level, minWidth);
  int taken = 0;
  for (int c : columns)
    if (widths[c] > level) {
      taken += widths[c] - level;
      widths[c] = level;
    }
  return std::max(excess - taken, 0);
}

// Cuts a URI or path at its start, where every row of a listing repeats the same folder, and other
// text in the middle, where an id or a file name keeps both of its ends.
class CellDelegate : public QStyledItemDelegate {
 public:
  using QStyledItemDelegate::QStyledItemDelegate;

 protected:
  void initStyleOption(QStyleOptionViewItem* option, const QModelIndex& index) const override {
    QStyledItemDelegate::initStyleOption(option, index);
    // An error message reads from its start; a path is told apart by its end.
    const bool isError = index.model()->headerData(index.column(), Qt::Horizontal).toString() == QLatin1String("error");
    option->textElideMode = isError                                    ? Qt::ElideRight
                            : option->text.contains(QLatin1Char('/')) ? Qt::ElideLeft
                                                                       : Qt::ElideMiddle;
  }

  // The engine stores times as ISO-8601 UTC text (sortable, exact); people read local time. The
  // tooltip keeps the stored value.
  QString displayText(const QVariant& value, const QLocale& locale) const override {
    if (value.typeId() == QMetaType::QString) {
      const QString text = value.toString();
      if (text.size() == 24 && text.endsWith(QLatin1Char('Z')) && text.at(10) == QLatin1Char('T')) {
        const QDateTime t = QDateTime::fromString(text, Qt::ISODateWithMs);
        if (t.isValid()) return t.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm"));
      }
    }
    return QStyledItemDelegate::displayText(value, locale);
  }
};

}  // namespace

DatasetViewer::DatasetViewer(models::CatalogService* service, DatasetRowsModel* rows, QWidget* parent)
    : QWidget(parent), m_service(service), m_rows(rows), m_title(new QLabel(this)),
      m_versionLabel(new QLabel(tr("&Version:"), this)), m_versions(new QComboBox(this)), m_summary(new QLabel(this)),
      m_stack(new QStackedWidget(this)), m_message(new QLabel(m_stack)), m_table(new QTableView(m_stack)) {
  m_title->setObjectName(QStringLiteral("datasetTitle"));
  QFont titleFont = m_title->font();
  titleFont.setPointSizeF(titleFont.pointSizeF() * 1.35);
  titleFont.setBold(true);
  m_title->setFont(titleFont);
  m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);

  m_versions->setObjectName(QStringLiteral("versionCombo"));
  m_versions->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  m_versions->setToolTip(tr("Every save of a dataset makes a new version; older versions stay readable"));
  m_versionLabel->setBuddy(m_versions);

  m_summary->setObjectName(QStringLiteral("datasetSummary"));
  m_summary->setForegroundRole(QPalette::PlaceholderText);
  m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_summary->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);  // the combo keeps its width first

  auto* header = new QHBoxLayout;
  header->setSpacing(12);
  header->addWidget(m_title);
  header->addSpacing(8);
  header->addWidget(m_versionLabel);
  header->addWidget(m_versions);
  header->addWidget(m_summary, 1);

  m_message->setObjectName(QStringLiteral("viewerMessage"));
  m_message->setAlignment(Qt::AlignCenter);
  m_message->setWordWrap(true);
  m_message->setForegroundRole(QPalette::PlaceholderText);
  m_message->setMargin(24);

  m_table->setObjectName(QStringLiteral("rowsTable"));
  m_table->setModel(m_rows);
  m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_table->setSelectionBehavior(QAbstractItemView::SelectItems);
  m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
  m_table->setAlternatingRowColors(true);
  m_table->setWordWrap(false);
  m_table->setItemDelegate(new CellDelegate(m_table));
  m_table->setHorizontalScrollMode(QAbstractItemView::ScrollPerPixel);
  m_table->verticalHeader()->hide();
  m_table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
  m_table->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
  m_table->horizontalHeader()->setHighlightSections(false);
  m_table->horizontalHeader()->setStretchLastSection(true);
  m_table->horizontalHeader()->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);

  auto* copy = new QAction(tr("&Copy"), m_table);
  copy->setShortcut(QKeySequence::Copy);
  copy->setShortcutContext(Qt::WidgetShortcut);
  connect(copy, &QAction::triggered, this, &DatasetViewer::copySelection);
  m_table->addAction(copy);
  m_table->setContextMenuPolicy(Qt::ActionsContextMenu);

  m_stack->addWidget(m_message);
  m_stack->addWidget(m_table);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 8, 8, 0);
  layout->setSpacing(6);
  layout->addLayout(header);
  layout->addWidget(m_stack, 1);

  connect(m_versions, &QComboBox::activated, this, [this](int index) {
    const qint64 version = m_versions->itemData(index).toLongLong();
    m_followLatest = index == 0;  // the list is newest first
    if (version != shownVersion()) m_rows->setDataset(m_dataset, version);
  });
  connect(m_service, &models::CatalogService::versionsReady, this, &DatasetViewer::onVersionsReady);
  connect(m_rows, &DatasetRowsModel::versionLoaded, this, &DatasetViewer::onVersionLoaded);
  connect(m_rows, &DatasetRowsModel::pageLoaded, this, &DatasetViewer::onPageLoaded);
  connect(m_rows, &DatasetRowsModel::loadFailed, this, [this](const QString& message) {
    if (m_rows->rowCount() == 0) showMessage(tr("Could not read %1:\n%2").arg(m_dataset, message));
  });

  showMessage(tr("No dataset selected."));
}

qint64 DatasetViewer::shownVersion() const { return m_rows->version().version; }

void DatasetViewer::showDataset(const QString& dataset, qint64 version) {
  m_dataset = dataset;
  m_followLatest = version == 0;
  m_knownLatest = 0;
  m_title->setText(dataset);
  m_versions->clear();
  m_summary->clear();
  for (QWidget* w : {static_cast<QWidget*>(m_title), static_cast<QWidget*>(m_versionLabel),
                     static_cast<QWidget*>(m_versions), static_cast<QWidget*>(m_summary)})
    w->setVisible(true);
  m_stack->setCurrentIndex(kTablePage);
  m_rows->setDataset(dataset, version);
  requestVersions();
}

void DatasetViewer::showMessage(const QString& message) {
  m_dataset.clear();
  m_rows->clear();
  m_versions->clear();
  for (QWidget* w : {static_cast<QWidget*>(m_title), static_cast<QWidget*>(m_versionLabel),
                     static_cast<QWidget*>(m_versions), static_cast<QWidget*>(m_summary)})
    w->setVisible(false);
  m_message->setText(message);
  m_stack->setCurrentIndex(kMessagePage);
}

void DatasetViewer::datasetUpdated(const DatasetInfo& info) {
  if (info.name != m_dataset || info.latestVersion <= m_knownLatest) return;
  if (m_followLatest && info.latestVersion != shownVersion()) m_rows->setDataset(m_dataset, info.latestVersion);
  requestVersions();
}

void DatasetViewer::requestVersions() { m_versionsTicket = m_service->requestVersions(m_dataset); }

void DatasetViewer::onVersionsReady(quint64 ticket, const QString& dataset, const QList<VersionInfo>& versions) {
  if (ticket != m_versionsTicket || dataset != m_dataset) return;
  m_versionsTicket = 0;
  m_versions->clear();
  for (auto it = versions.crbegin(); it != versions.crend(); ++it) {
    m_versions->addItem(tr("v%1 — %2").arg(it->version).arg(models::formatDateTime(it->createdAt)), it->version);
    m_versions->setItemData(m_versions->count() - 1,
                            tr("%Ln row(s)", nullptr, static_cast<int>(qMin<qint64>(it->rowCount, INT_MAX))),
                            Qt::ToolTipRole);
  }
  m_knownLatest = versions.isEmpty() ? 0 : versions.last().version;
  selectVersionInCombo(shownVersion());
}

void DatasetViewer::onVersionLoaded(const VersionInfo& v) {
  QStringList parts;
  parts << tr("%Ln row(s)", nullptr, static_cast<int>(qMin<qint64>(v.rowCount, INT_MAX)));
  if (v.rowsFailed > 0) parts << tr("%1 failed").arg(QLocale().toString(v.rowsFailed));
  parts << tr("%n column(s)", nullptr, static_cast<int>(v.columns.size()));
  parts << tr("saved by run %1").arg(v.runId);
  m_summary->setText(parts.join(QStringLiteral(" · ")));
  m_summary->setToolTip(tr("Saved %1 by run %2, node '%3'")
                            .arg(QLocale().toString(v.createdAt.toLocalTime(), QLocale::LongFormat))
                            .arg(v.runId)
                            .arg(v.nodeId));
  selectVersionInCombo(v.version);
}

void DatasetViewer::onPageLoaded(qint64 offset, int /*rows*/) {
  if (offset != 0) return;  // fit once per version; later pages keep the widths the person set
  fitColumns();
}

void DatasetViewer::fitColumns() {
  const int columns = m_rows->columnCount();
  if (columns == 0) return;
  const int charWidth = fontMetrics().averageCharWidth();
  QHeaderView* header = m_table->horizontalHeader();
  QList<int> widths;
  QList<int> references, others;
  for (int c = 0; c < columns; ++c) {
    const int contents = static_cast<const QAbstractItemView*>(m_table)->sizeHintForColumn(c) + charWidth;
    widths << std::max(std::min(contents, charWidth * kMaxFitChars), header->sectionSizeHint(c));
    const QString name = m_rows->headerData(c, Qt::Horizontal).toString();
    if (name == QLatin1String("uri") || name == QLatin1String("etag"))
      references << c;
    else if (c > 0)  // _row stays whole
      others << c;
  }
  // The first page usually brings the vertical scroll bar: leave room for it before it shows.
  int available = m_table->viewport()->width();
  if (!m_table->verticalScrollBar()->isVisible() && m_rows->totalRows() > 0)
    available -= style()->pixelMetric(QStyle::PM_ScrollBarExtent, nullptr, m_table);
  int excess = -available;
  for (int w : widths) excess += w;
  excess = squeeze(widths, references, excess, charWidth * kMinReferenceChars);
  squeeze(widths, others, excess, charWidth * kMinFitChars);
  for (int c = 0; c < columns; ++c) header->resizeSection(c, widths[c]);
}

void DatasetViewer::selectVersionInCombo(qint64 version) {
  const int index = m_versions->findData(version);
  if (index >= 0) m_versions->setCurrentIndex(index);
}

void DatasetViewer::copySelection() {
  // Tab-separated, like spreadsheets expect on paste.
  QModelIndexList cells = m_table->selectionModel()->selectedIndexes();
  if (cells.isEmpty()) return;
  std::sort(cells.begin(), cells.end(), [](const QModelIndex& a, const QModelIndex& b) {
    return a.row() != b.row() ? a.row() < b.row() : a.column() < b.column();
  });
  QString text;
  int row = cells.first().row();
  bool first = true;
  for (const QModelIndex& cell : cells) {
    if (cell.row() != row) {
      text += QLatin1Char('\n');
      row = cell.row();
      first = true;
    }
    if (!first) text += QLatin1Char('\t');
    text += cell.data(Qt::DisplayRole).toString();
    first = false;
  }
  QApplication::clipboard()->setText(text);
}

}  // namespace loom::widgets
