#include "catalog_types.h"

#include <QLocale>

namespace loom::models {

QDateTime dateTimeFromIso(const std::string& iso) {
  if (iso.empty()) return {};
  QDateTime dt = QDateTime::fromString(QString::fromStdString(iso), Qt::ISODateWithMs);
  return dt.isValid() ? dt.toUTC() : QDateTime();
}

QString formatDateTime(const QDateTime& time) {
  if (!time.isValid()) return {};
  const QLocale locale;
  // Some locales' short format still carries seconds (the C locale's does): noise in a list.
  QString format = locale.dateTimeFormat(QLocale::ShortFormat);
  format.remove(QLatin1String(":ss"));
  return locale.toString(time.toLocalTime(), format);
}

QString formatCompactDateTime(const QDateTime& time, const QDateTime& now) {
  if (!time.isValid()) return {};
  const QLocale locale;
  const QDateTime local = time.toLocalTime();
  if (local.date() == now.toLocalTime().date()) {
    QString format = locale.timeFormat(QLocale::ShortFormat);
    format.remove(QLatin1String(":ss"));
    return locale.toString(local.time(), format);
  }
  return locale.toString(local.date(), QLocale::ShortFormat);
}

QVariant toVariant(const core::Value& value) {
  return std::visit(
      [](const auto& v) -> QVariant {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          return {};
        else if constexpr (std::is_same_v<T, int64_t>)
          return QVariant::fromValue(static_cast<qlonglong>(v));
        else if constexpr (std::is_same_v<T, double>)
          return QVariant(v);
        else if constexpr (std::is_same_v<T, std::string>)
          return QString::fromStdString(v);  // catalog text is UTF-8
        else
          return QByteArray(v.bytes.data(), static_cast<qsizetype>(v.bytes.size()));
      },
      value);
}

DatasetInfo toDatasetInfo(const catalog::DatasetSummary& s) {
  return {QString::fromStdString(s.name), s.versions, s.latestVersion, s.latestRows, dateTimeFromIso(s.updatedAt)};
}

VersionInfo toVersionInfo(const catalog::DatasetVersion& v) {
  VersionInfo info;
  info.id = v.id;
  info.dataset = QString::fromStdString(v.name);
  info.version = v.version;
  info.rowCount = v.rowCount;
  info.rowsFailed = v.rowsFailed;
  info.runId = v.runId;
  info.nodeId = QString::fromStdString(v.nodeId);
  info.createdAt = dateTimeFromIso(v.createdAt);
  for (const auto& c : v.schema.columns())
    info.columns.push_back({QString::fromStdString(c.name), c.type, QString::fromStdString(c.doc)});
  return info;
}

}  // namespace loom::models
