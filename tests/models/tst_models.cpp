// The models over a real catalog: flows run through FlowRunner (the GUI's engine run path), then the
// dataset list and the lazily paged rows model are checked against what a person would see.

#include <QAbstractItemModelTester>
#include <QGuiApplication>
#include <QPalette>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "catalog_service.h"
#include "dataset_list_model.h"
#include "dataset_rows_model.h"
#include "flow_runner.h"
#include "test_fixtures.h"
#include "media/probe.h"

using namespace loom;
using models::DatasetListModel;
using models::DatasetRowsModel;

class TestModels : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();

  void runnerRunsFlowAndReportsProgress();
  void runnerRunsLargerFlow();
  void runnerReportsInvalidFlow();
  void runnerReportsMissingFlowFile();
  void runnerCancels();
  void runnerRefusesSecondRunWhileBusy();

  void serviceReportsCatalogThatCannotOpen();
  void datasetListShowsDatasets();
  void datasetListMergesRefreshWithoutReset();

  void rowsModelShowsCells();
  void rowsModelFetchesPagesLazily();
  void rowsModelIgnoresRepliesForEarlierChoice();
  void rowsModelReportsUnknownDataset();

 private:
  QString catalogPath() const { return m_dir.filePath("catalog.db"); }

  QTemporaryDir m_dir;
  QString m_photos, m_bulk;
  QString m_photosFlow, m_bulkFlow;
  static constexpr int kBulkFiles = 1203;  // two full pages of 500 and a short one
};

void TestModels::initTestCase() {
  QVERIFY(m_dir.isValid());
  m_photos = m_dir.filePath("assets/photos");
  m_bulk = m_dir.filePath("assets/bulk");
  QVERIFY(testing::makePhotoAssets(m_photos));
  QVERIFY(testing::makeBulkAssets(m_bulk, kBulkFiles));
  m_photosFlow = testing::writeListFlow(m_dir.filePath("photos.loomflow"), "photos", m_photos, "photos");
  m_bulkFlow = testing::writeListFlow(m_dir.filePath("bulk.loomflow"), "bulk", m_bulk, "bulk");
  QVERIFY(!m_photosFlow.isEmpty() && !m_bulkFlow.isEmpty());
}

void TestModels::runnerRunsFlowAndReportsProgress() {
  models::FlowRunner runner;
  QSignalSpy started(&runner, &models::FlowRunner::started);
  QSignalSpy progress(&runner, &models::FlowRunner::progress);
  QSignalSpy messages(&runner, &models::FlowRunner::message);
  QSignalSpy finished(&runner, &models::FlowRunner::finished);
  QSignalSpy failed(&runner, &models::FlowRunner::failed);

  QVERIFY(runner.start(m_photosFlow, catalogPath()));
  QVERIFY(runner.isRunning());
  QCOMPARE(started.count(), 1);
  QVERIFY(finished.wait(120000));
  QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().first().toString()));
  QVERIFY(!runner.isRunning());

  // Every node announces itself, and says what it did, before the run's end is signalled.
  QVERIFY(progress.count() >= 1);
  QVERIFY(messages.count() >= 3);
  QVERIFY(messages.at(0).first().toString().startsWith("src (storage.list)"));

  const auto summary = finished.first().first().value<models::RunSummary>();
  QCOMPARE(summary.status, QString("succeeded"));
  QCOMPARE(summary.flowName, QString("photos"));
  QVERIFY(summary.runId > 0);
  QCOMPARE(summary.nodes.size(), 3);
  QCOMPARE(summary.outputs.size(), 1);
  QCOMPARE(summary.outputs.first().dataset, QString("photos"));
  QCOMPARE(summary.outputs.first().version, 1);
  QCOMPARE(summary.outputs.first().rows, testing::kPhotoFiles);
  QCOMPARE(summary.rowsFailed, 1);  // broken_upload.jpg
}

void TestModels::runnerRunsLargerFlow() {
  const auto outcome = testing::runFlow(m_bulkFlow, catalogPath());
  QVERIFY2(outcome.finished, qPrintable(outcome.error));
  QCOMPARE(outcome.summary.outputs.first().rows, kBulkFiles);
}

void TestModels::runnerReportsInvalidFlow() {
  const QString path = m_dir.filePath("invalid.loomflow");
  QVERIFY(testing::writeFile(path, R"({"format": "loom.flow/1", "name": "bad",
    "nodes": [{"id": "src", "type": "storage.teleport", "params": {}}], "edges": []})"));
  const auto outcome = testing::runFlow(path, catalogPath());
  QVERIFY(!outcome.finished);
  QCOMPARE(outcome.kind, QString("invalid_flow"));
  QVERIFY2(outcome.error.contains("storage.teleport"), qPrintable(outcome.error));
}

void TestModels::runnerReportsMissingFlowFile() {
  const auto outcome = testing::runFlow(m_dir.filePath("no-such.loomflow"), catalogPath());
  QVERIFY(!outcome.finished);
  QCOMPARE(outcome.kind, QString("not_found"));
  QVERIFY2(outcome.error.contains("no-such.loomflow"), qPrintable(outcome.error));
}

void TestModels::runnerCancels() {
  // A fresh catalog, so that nothing is cached and the run has work to stop.
  QTemporaryDir other;
  models::FlowRunner runner;
  QSignalSpy finished(&runner, &models::FlowRunner::finished);
  QSignalSpy failed(&runner, &models::FlowRunner::failed);
  QVERIFY(runner.start(m_bulkFlow, other.filePath("catalog.db")));
  runner.cancel();
  QVERIFY(failed.wait(60000));
  QCOMPARE(finished.count(), 0);
  QCOMPARE(failed.first().at(1).toString(), QString("cancelled"));
  QVERIFY(!runner.isRunning());
}

void TestModels::runnerRefusesSecondRunWhileBusy() {
  QTemporaryDir other;
  models::FlowRunner runner;
  QSignalSpy failed(&runner, &models::FlowRunner::failed);
  QVERIFY(runner.start(m_bulkFlow, other.filePath("catalog.db")));
  QVERIFY(!runner.start(m_photosFlow, other.filePath("catalog.db")));
  runner.cancel();
  QVERIFY(failed.wait(60000));
  // Idle again: a new run may start from here.
  QVERIFY(runner.start(m_photosFlow, other.filePath("catalog.db")));
  QSignalSpy finished(&runner, &models::FlowRunner::finished);
  QVERIFY(finished.wait(120000));
}

void TestModels::serviceReportsCatalogThatCannotOpen() {
  models::CatalogService service;
  QSignalSpy opened(&service, &models::CatalogService::opened);
  QSignalSpy openFailed(&service, &models::CatalogService::openFailed);
  service.open("/proc/loom-cannot-be-here/catalog.db");
  QVERIFY(openFailed.wait(10000));
  QCOMPARE(opened.count(), 0);
  QVERIFY(!service.isOpen());
  QVERIFY(!openFailed.first().at(1).toString().isEmpty());

  // Requests without a catalog fail with a reason instead of hanging.
  QSignalSpy requestFailed(&service, &models::CatalogService::requestFailed);
  const auto ticket = service.requestDatasets();
  QVERIFY(requestFailed.wait(10000));
  QCOMPARE(requestFailed.first().at(0).toULongLong(), ticket);
}

void TestModels::datasetListShowsDatasets() {
  models::CatalogService service;
  DatasetListModel model(&service);
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
  QSignalSpy refreshed(&model, &DatasetListModel::refreshed);
  service.open(catalogPath());  // an opened catalog refreshes the list by itself
  QVERIFY(refreshed.wait(10000));

  QCOMPARE(model.columnCount(), 5);
  QCOMPARE(model.headerData(0, Qt::Horizontal).toString(), QString("Dataset"));
  QCOMPARE(model.headerData(3, Qt::Horizontal).toString(), QString("Rows"));
  QCOMPARE(model.rowCount(), 2);
  // Sorted by name.
  QCOMPARE(model.index(0, DatasetListModel::NameColumn).data().toString(), QString("bulk"));
  const int row = model.rowOf("photos");
  QCOMPARE(row, 1);
  QCOMPARE(model.index(row, DatasetListModel::VersionsColumn).data().toLongLong(), 1);
  QCOMPARE(model.index(row, DatasetListModel::LatestColumn).data().toLongLong(), 1);
  QCOMPARE(model.index(row, DatasetListModel::RowsColumn).data().toLongLong(), testing::kPhotoFiles);
  QCOMPARE(model.index(0, DatasetListModel::RowsColumn).data().toLongLong(), kBulkFiles);
  const QModelIndex updatedCell = model.index(row, DatasetListModel::UpdatedColumn);
  const QDateTime updated = updatedCell.data(DatasetListModel::SortRole).toDateTime();
  QVERIFY(updated.isValid());
  QCOMPARE(updatedCell.data().toString(), models::formatCompactDateTime(updated));
  QVERIFY(updatedCell.data(Qt::ToolTipRole).toString().contains(QString::number(updated.date().year())));
  QVERIFY(qAbs(updated.secsTo(QDateTime::currentDateTime())) < 3600);
  QCOMPARE(model.index(row, DatasetListModel::RowsColumn).data(Qt::TextAlignmentRole).value<Qt::Alignment>() &
               Qt::AlignHorizontal_Mask,
           Qt::AlignRight);
}

void TestModels::datasetListMergesRefreshWithoutReset() {
  models::CatalogService service;
  DatasetListModel model(&service);
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
  QSignalSpy refreshed(&model, &DatasetListModel::refreshed);
  service.open(catalogPath());
  QVERIFY(refreshed.wait(10000));
  QCOMPARE(model.rowCount(), 2);

  // A new file makes the next run save photos@2.
  QVERIFY(testing::writeImage(m_photos + "/kayak_lake.jpg", 1600, 900));
  const auto outcome = testing::runFlow(m_photosFlow, catalogPath());
  QVERIFY2(outcome.finished, qPrintable(outcome.error));
  QCOMPARE(outcome.summary.outputs.first().version, 2);

  QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
  QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
  QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
  QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
  model.refresh();
  QVERIFY(refreshed.wait(10000));
  // Only the photos row changed; views keep their selection.
  QCOMPARE(reset.count(), 0);
  QCOMPARE(inserted.count(), 0);
  QCOMPARE(removed.count(), 0);
  QCOMPARE(changed.count(), 1);
  const int row = model.rowOf("photos");
  QCOMPARE(changed.first().at(0).toModelIndex().row(), row);
  QCOMPARE(model.index(row, DatasetListModel::VersionsColumn).data().toLongLong(), 2);
  QCOMPARE(model.index(row, DatasetListModel::LatestColumn).data().toLongLong(), 2);
  QCOMPARE(model.index(row, DatasetListModel::RowsColumn).data().toLongLong(), testing::kPhotoFiles + 1);

  // A third dataset is inserted in name order.
  const QString flow = testing::writeListFlow(m_dir.filePath("big.loomflow"), "big", m_photos, "big_photos",
                                              "width >= 1280");
  const auto big = testing::runFlow(flow, catalogPath());
  QVERIFY2(big.finished, qPrintable(big.error));
  model.refresh();
  QVERIFY(refreshed.wait(10000));
  QCOMPARE(reset.count(), 0);
  QCOMPARE(inserted.count(), 1);
  QCOMPARE(inserted.last().at(1).toInt(), 0);  // "big_photos" sorts before "bulk"
  QCOMPARE(model.rowOf("big_photos"), 0);
  QCOMPARE(model.index(0, DatasetListModel::RowsColumn).data().toLongLong(), 4);  // 1920, 1280, 2048, 1600 wide
}

void TestModels::rowsModelShowsCells() {
  models::CatalogService service;
  service.open(catalogPath());
  DatasetRowsModel model(&service);
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
  QSignalSpy loaded(&model, &DatasetRowsModel::versionLoaded);
  QSignalSpy pages(&model, &DatasetRowsModel::pageLoaded);
  model.setDataset("photos", 1);  // an older version stays readable after photos@2 was saved
  QVERIFY(pages.wait(10000));
  QCOMPARE(loaded.count(), 1);
  QCOMPARE(model.version().version, 1);
  QCOMPARE(model.totalRows(), testing::kPhotoFiles);
  QCOMPARE(model.rowCount(), testing::kPhotoFiles);
  QVERIFY(!model.canFetchMore({}));

  QCOMPARE(model.headerData(0, Qt::Horizontal).toString(), QString("_row"));
  // The listing's columns, then everything media.probe adds, in the engine's documented order.
  QStringList expected{"_row", "uri", "name", "etag", "size", "mtime", "error"};
  for (const auto& c : media::probeColumns()) expected << QString::fromStdString(c.name);
  QVERIFY(expected.contains("width") && expected.contains("duration") && expected.contains("pages"));
  QStringList header;
  for (int c = 0; c < model.columnCount(); ++c) header << model.headerData(c, Qt::Horizontal).toString();
  QCOMPARE(header, expected);

  const int name = model.columnOf("name"), width = model.columnOf("width"), height = model.columnOf("height");
  const int error = model.columnOf("error"), uri = model.columnOf("uri");
  auto rowNamed = [&](const QString& file) {
    for (int r = 0; r < model.rowCount(); ++r)
      if (model.index(r, name).data().toString() == file) return r;
    return -1;
  };

  const int cat = rowNamed("cat_portrait.jpg");
  QVERIFY(cat >= 0);
  QCOMPARE(model.index(cat, width).data().toLongLong(), 320);
  QCOMPARE(model.index(cat, height).data().toLongLong(), 240);
  QCOMPARE(model.index(cat, model.columnOf("mime")).data().toString(), QString("image/jpeg"));
  QVERIFY(model.index(cat, uri).data().toString().endsWith("/cat_portrait.jpg"));
  QCOMPARE(model.index(cat, width).data(Qt::TextAlignmentRole).value<Qt::Alignment>() & Qt::AlignHorizontal_Mask,
           Qt::AlignRight);
  QCOMPARE(model.index(cat, 0).data(Qt::TextAlignmentRole).value<Qt::Alignment>() & Qt::AlignHorizontal_Mask,
           Qt::AlignRight);
  QCOMPARE(model.index(cat, uri).data(Qt::TextAlignmentRole).value<Qt::Alignment>() & Qt::AlignHorizontal_Mask,
           Qt::AlignLeft);
  QVERIFY(model.index(cat, error).data(DatasetRowsModel::IsNullRole).toBool());

  // A text file has no width: the cell is null, shown empty in the placeholder colour.
  const int notes = rowNamed("notes.txt");
  QVERIFY(notes >= 0);
  const QModelIndex nullCell = model.index(notes, width);
  QVERIFY(nullCell.data(DatasetRowsModel::IsNullRole).toBool());
  QVERIFY(nullCell.data().toString().isEmpty());
  QCOMPARE(nullCell.data(Qt::ForegroundRole).value<QColor>(),
           QGuiApplication::palette().color(QPalette::PlaceholderText));

  // The broken upload carries its error, drawn in the warning colour; the run went on.
  const int broken = rowNamed("broken_upload.jpg");
  QVERIFY(broken >= 0);
  const QModelIndex errorCell = model.index(broken, error);
  QVERIFY2(!errorCell.data().toString().isEmpty(), "broken_upload.jpg should have an error");
  QCOMPARE(errorCell.data(Qt::ForegroundRole).value<QColor>(), DatasetRowsModel::warningColor());
  QVERIFY(!model.index(broken, width).data().isValid());

  // The latest version has the file added since.
  model.setDataset("photos");
  QVERIFY(loaded.wait(10000));
  QCOMPARE(model.version().version, 2);
  QCOMPARE(model.totalRows(), testing::kPhotoFiles + 1);
}

void TestModels::rowsModelFetchesPagesLazily() {
  models::CatalogService service;
  service.open(catalogPath());
  DatasetRowsModel model(&service);
  // No QAbstractItemModelTester here: it asks for more rows itself, and this test counts the pages.
  QCOMPARE(model.pageSize(), 500);
  QSignalSpy pages(&model, &DatasetRowsModel::pageLoaded);
  model.setDataset("bulk");
  QVERIFY(pages.wait(10000));
  QCOMPARE(model.totalRows(), kBulkFiles);
  QCOMPARE(model.rowCount(), 500);  // one page only, until a view asks for more
  QVERIFY(model.canFetchMore({}));

  model.fetchMore({});
  QVERIFY(!model.canFetchMore({}));  // one page in flight at a time
  QVERIFY(model.isLoading());
  QVERIFY(pages.wait(10000));
  QCOMPARE(model.rowCount(), 1000);
  QVERIFY(model.canFetchMore({}));
  model.fetchMore({});
  QVERIFY(pages.wait(10000));
  QCOMPARE(model.rowCount(), kBulkFiles);
  QVERIFY(!model.canFetchMore({}));
  QCOMPARE(pages.count(), 3);
  QCOMPARE(pages.at(1).at(0).toLongLong(), 500);

  // Pages join without gaps or repeats: _row ascends and every file appears once.
  QSet<QString> names;
  qlonglong previous = 0;
  const int name = model.columnOf("name");
  for (int r = 0; r < model.rowCount(); ++r) {
    const qlonglong id = model.index(r, 0).data().toLongLong();
    QVERIFY(id > previous);
    previous = id;
    names.insert(model.index(r, name).data().toString());
  }
  QCOMPARE(names.size(), kBulkFiles);
  QVERIFY(names.contains("file_1202.txt"));
}

void TestModels::rowsModelIgnoresRepliesForEarlierChoice() {
  models::CatalogService service;
  service.open(catalogPath());
  DatasetRowsModel model(&service);
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
  QSignalSpy pages(&model, &DatasetRowsModel::pageLoaded);
  model.setDataset("bulk");
  model.setDataset("photos", 1);  // the person clicked on, before bulk's reply came
  QVERIFY(pages.wait(10000));
  QTest::qWait(200);  // give any reply for bulk the chance to (wrongly) arrive
  QCOMPARE(pages.count(), 1);
  QCOMPARE(model.datasetName(), QString("photos"));
  QCOMPARE(model.rowCount(), testing::kPhotoFiles);
  QCOMPARE(model.columnCount(), 7 + static_cast<int>(media::probeColumns().size()));
}

void TestModels::rowsModelReportsUnknownDataset() {
  models::CatalogService service;
  service.open(catalogPath());
  DatasetRowsModel model(&service);
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
  QSignalSpy failed(&model, &DatasetRowsModel::loadFailed);
  model.setDataset("no_such_dataset");
  QVERIFY(failed.wait(10000));
  QVERIFY2(failed.first().first().toString().contains("no_such_dataset"), qPrintable(failed.first().first().toString()));
  QCOMPARE(model.rowCount(), 0);
  QCOMPARE(model.columnCount(), 0);
  QVERIFY(!model.canFetchMore({}));
}

QTEST_MAIN(TestModels)
#include "tst_models.moc"
