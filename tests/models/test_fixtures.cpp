#include "test_fixtures.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLinearGradient>
#include <QPainter>
#include <QSignalSpy>

namespace loom::testing {

bool writeFile(const QString& path, const QByteArray& bytes) {
  if (!QDir().mkpath(QFileInfo(path).absolutePath())) return false;
  QFile f(path);
  return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(bytes) == bytes.size();
}

bool writeImage(const QString& path, int width, int height) {
  if (!QDir().mkpath(QFileInfo(path).absolutePath())) return false;
  QImage image(width, height, QImage::Format_RGB32);
  QPainter p(&image);
  QLinearGradient g(0, 0, width, height);
  g.setColorAt(0, QColor::fromHsv((width * 7 + height) % 360, 160, 230));
  g.setColorAt(1, QColor::fromHsv((width + height * 3) % 360, 200, 90));
  p.fillRect(image.rect(), g);
  p.end();
  return image.save(path, nullptr, 85);
}

bool makePhotoAssets(const QString& dir) {
  bool ok = writeImage(dir + "/beach_sunset.jpg", 1920, 1080) && writeImage(dir + "/cat_portrait.jpg", 320, 240) &&
            writeImage(dir + "/city_night.png", 1280, 720) && writeImage(dir + "/forest_trail.jpg", 2048, 1536) &&
            writeImage(dir + "/product_mug.png", 800, 800) && writeImage(dir + "/receipt_scan.png", 620, 877);
  ok = ok && writeFile(dir + "/notes.txt", "Shot list for the spring catalogue.\nReshoot the mug on white.\n");
  // A JPEG cut inside its header, as a failed upload leaves it: probing it must give an error row.
  static const char kCutJpeg[] = "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01";
  ok = ok && writeFile(dir + "/broken_upload.jpg", QByteArray(kCutJpeg, sizeof kCutJpeg - 1));
  return ok;
}

bool makeBulkAssets(const QString& dir, int count) {
  for (int i = 0; i < count; ++i) {
    const QString name = QStringLiteral("file_%1.txt").arg(i, 4, 10, QLatin1Char('0'));
    if (!writeFile(dir + "/" + name, "row " + QByteArray::number(i) + "\n")) return false;
  }
  return true;
}

QString writeListFlow(const QString& flowPath, const QString& flowName, const QString& assetsDir,
                      const QString& dataset, const QString& where) {
  QJsonArray nodes{
      QJsonObject{{"id", "src"}, {"type", "storage.list"}, {"params", QJsonObject{{"uri", assetsDir}}}},
      QJsonObject{{"id", "meta"}, {"type", "media.probe"}, {"params", QJsonObject{}}},
  };
  QJsonArray edges{QJsonObject{{"from", "src"}, {"to", "meta"}}};
  QString last = QStringLiteral("meta");
  if (!where.isEmpty()) {
    nodes.append(QJsonObject{{"id", "pick"}, {"type", "table.filter"}, {"params", QJsonObject{{"where", where}}}});
    edges.append(QJsonObject{{"from", last}, {"to", "pick"}});
    last = QStringLiteral("pick");
  }
  nodes.append(QJsonObject{{"id", "out"}, {"type", "dataset.save"}, {"params", QJsonObject{{"name", dataset}}}});
  edges.append(QJsonObject{{"from", last}, {"to", "out"}});
  QJsonObject doc{{"format", "loom.flow/1"}, {"name", flowName}, {"nodes", nodes}, {"edges", edges}};
  return writeFile(flowPath, QJsonDocument(doc).toJson()) ? flowPath : QString();
}

RunOutcome runFlow(const QString& flowPath, const QString& catalogPath, int timeoutMs) {
  RunOutcome outcome;
  models::FlowRunner runner;
  runner.setThreads(2);
  QSignalSpy finished(&runner, &models::FlowRunner::finished);
  QSignalSpy failed(&runner, &models::FlowRunner::failed);
  if (!runner.start(flowPath, catalogPath)) return outcome;
  for (int waited = 0; finished.isEmpty() && failed.isEmpty() && waited < timeoutMs; waited += 50) finished.wait(50);
  if (!finished.isEmpty()) {
    outcome.finished = true;
    outcome.summary = finished.first().first().value<models::RunSummary>();
  } else if (!failed.isEmpty()) {
    outcome.error = failed.first().at(0).toString();
    outcome.kind = failed.first().at(1).toString();
  }
  return outcome;
}

}  // namespace loom::testing
