#pragma once
// Qt-side copies of catalog records. The engine's structs hold std::string and live on the thread
// that read them; these are plain values that travel by queued signal to the GUI thread.

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>
#include <QVariant>

#include "catalog/catalog.h"
#include "core/value.h"

namespace loom::models {

struct DatasetInfo {
  QString name;
  qint64 versions = 0;
  qint64 latestVersion = 0;
  qint64 latestRows = 0;
  QDateTime updatedAt;  // UTC; invalid when the catalog has no time for it
  bool operator==(const DatasetInfo&) const = default;
};

struct ColumnInfo {
  QString name;
  core::ColumnType type = core::ColumnType::Any;
  QString doc;
  bool operator==(const ColumnInfo&) const = default;
};

struct VersionInfo {
  qint64 id = 0;  // catalog-wide id of the version
  QString dataset;
  qint64 version = 0;
  qint64 rowCount = 0;
  qint64 rowsFailed = 0;
  qint64 runId = 0;
  QString nodeId;
  QDateTime createdAt;
  QList<ColumnInfo> columns;  // the version's schema; rows also carry _row first
  QString spec() const { return dataset + QLatin1Char('@') + QString::number(version); }
  bool isValid() const { return id > 0; }
};

// A page of rows from one dataset version: each row is _row followed by the schema's columns.
// A null cell is an invalid QVariant; blobs are QByteArray.
struct RowPage {
  QString dataset;
  qint64 version = 0;
  qint64 offset = 0;
  QList<QVariantList> rows;
};

// A time as people read it in lists: local time, the locale's short format, without seconds.
QString formatDateTime(const QDateTime& time);
// Shorter still, for narrow columns: the time for today, else the date. `now` is for tests.
QString formatCompactDateTime(const QDateTime& time, const QDateTime& now = QDateTime::currentDateTime());

// Conversions used on the worker threads.
QDateTime dateTimeFromIso(const std::string& iso);
QVariant toVariant(const core::Value& value);
DatasetInfo toDatasetInfo(const catalog::DatasetSummary& summary);
VersionInfo toVersionInfo(const catalog::DatasetVersion& version);

}  // namespace loom::models

Q_DECLARE_METATYPE(loom::models::DatasetInfo)
Q_DECLARE_METATYPE(loom::models::VersionInfo)
Q_DECLARE_METATYPE(loom::models::RowPage)
