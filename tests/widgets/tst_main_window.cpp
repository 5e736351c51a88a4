// The main window, offscreen, on a real catalog: flows run through the window, the datasets appear
// in the Datasets dock, picking one fills the viewer, and a screenshot (main_window.png) is saved to
// $LOOM_SCREENSHOT_DIR, or else to the build folder.

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QToolButton>
#include <QtTest>

#include "catalog_service.h"
#include "dataset_list_model.h"
#include "dataset_list_panel.h"
#include "dataset_rows_model.h"
#include "dataset_viewer.h"
#include "flow_runner.h"
#include "main_window.h"
#include "run_status_widget.h"
#include "test_fixtures.h"
#include "translations.h"

using namespace loom;
using widgets::MainWindow;

namespace {
// The offscreen platform says, each time a status-bar widget shows or hides, that it cannot pass
// size hints to a window manager it does not have. Keep the test log for messages that matter.
QtMessageHandler g_previousHandler = nullptr;
void quietOffscreenHandler(QtMsgType type, const QMessageLogContext& context, const QString& message) {
  if (message.contains(QLatin1String("does not support propagateSizeHints"))) return;
  g_previousHandler(type, context, message);
}
}  // namespace

class TestMainWindow : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void emptyCatalogSaysWhatToDo();
  void runFlowShowsItsDataset();
  void selectingDatasetFillsViewer();
  void versionComboShowsOlderVersion();
  void failedRunIsReported();
  void menusHaveShortcuts();
  void pluralsReadAsEnglish();
  void aboutNamesVersions();
  void screenshot();

 private:
  // Runs `flow` through the window and waits for the refreshed list to hold the run's output.
  bool runThroughWindow(MainWindow& window, const QString& flow);
  static bool openAndWait(MainWindow& window, const QString& catalog);
  static QTableView* datasetTable(MainWindow& window) { return window.datasetListPanel()->view(); }
  static QTableView* rowsTable(MainWindow& window) { return window.datasetViewer()->tableView(); }

  QTemporaryDir m_dir;
  // A product shoot as a photographer's upload folder leaves it: images of several sizes, a note,
  // and two uploads that broke. Only the screenshot uses it, so the other tests keep small numbers.
  static bool makeProductShoot(const QString& dir);

  QString m_catalog, m_photos;
  QString m_photosFlow, m_largeFlow, m_docsFlow;
};

void TestMainWindow::initTestCase() {
  g_previousHandler = qInstallMessageHandler(quietOffscreenHandler);
  // Keep the person's own settings out of it, and start from no saved layout.
  QStandardPaths::setTestModeEnabled(true);
  QApplication::setOrganizationName("LoomTests");
  QApplication::setApplicationName("tst_main_window");
  QSettings().clear();
  widgets::installTranslators(*QCoreApplication::instance());  // as the app does: English plurals

  QVERIFY(m_dir.isValid());
  m_catalog = m_dir.filePath("catalog.db");
  m_photos = m_dir.filePath("assets/product_photos");
  QVERIFY(testing::makePhotoAssets(m_photos));
  QVERIFY(testing::makeBulkAssets(m_dir.filePath("assets/docs_archive"), 640));
  m_photosFlow = testing::writeListFlow(m_dir.filePath("product_photos.loomflow"), "product-photos", m_photos,
                                        "product_photos");
  m_largeFlow = testing::writeListFlow(m_dir.filePath("large_photos.loomflow"), "large-photos", m_photos,
                                       "large_photos", "width >= 1280");
  m_docsFlow = testing::writeListFlow(m_dir.filePath("docs_archive.loomflow"), "docs-archive",
                                      m_dir.filePath("assets/docs_archive"), "docs_archive");
}

bool TestMainWindow::makeProductShoot(const QString& dir) {
  const QList<QSize> sizes{{1600, 1200}, {1200, 1600}, {2048, 2048}, {1280, 960}, {800, 800}, {1920, 1080}};
  const QStringList views{"front", "back", "detail"};
  int i = 0;
  for (int sku : {1041, 1042, 1057, 1063, 1088, 1102, 1115, 1120}) {
    for (const QString& view : views) {
      const QSize size = sizes[i++ % sizes.size()];
      const QString suffix = (i % 4 == 0) ? "png" : "jpg";
      if (!testing::writeImage(QString("%1/sku_%2_%3.%4").arg(dir).arg(sku).arg(view, suffix), size.width(),
                               size.height()))
        return false;
    }
  }
  return testing::writeFile(dir + "/shot_list.txt", "SKU 1041-1120, three views each. Reshoot 1063 back.\n") &&
         testing::writeFile(dir + "/sku_1063_back_retake.jpg", QByteArray("\xFF\xD8\xFF\xE0\x00\x10JFIF", 10)) &&
         testing::writeFile(dir + "/sku_1130_front.jpg", QByteArray());
}

bool TestMainWindow::openAndWait(MainWindow& window, const QString& catalog) {
  QSignalSpy refreshed(window.datasetListModel(), &models::DatasetListModel::refreshed);
  window.openCatalog(catalog);
  return refreshed.wait(10000);
}

bool TestMainWindow::runThroughWindow(MainWindow& window, const QString& flow) {
  QSignalSpy finished(window.flowRunner(), &models::FlowRunner::finished);
  QSignalSpy refreshed(window.datasetListModel(), &models::DatasetListModel::refreshed);
  if (!window.runFlow(flow)) return false;
  if (!finished.wait(120000)) return false;
  return refreshed.wait(10000);
}

void TestMainWindow::emptyCatalogSaysWhatToDo() {
  QTemporaryDir empty;
  MainWindow window;
  window.show();
  QVERIFY(openAndWait(window, empty.filePath("catalog.db")));
  QCOMPARE(window.datasetListModel()->rowCount(), 0);
  auto* message = window.findChild<QLabel*>("viewerMessage");
  QVERIFY(message);
  QVERIFY(message->isVisible());
  QVERIFY2(message->text().contains("no datasets yet"), qPrintable(message->text()));
  QVERIFY(window.windowTitle().startsWith("catalog.db"));
}

void TestMainWindow::runFlowShowsItsDataset() {
  MainWindow window;
  window.show();
  QVERIFY(QTest::qWaitForWindowExposed(&window));
  QVERIFY(openAndWait(window, m_catalog));

  auto* status = window.runStatus();
  QSignalSpy finished(window.flowRunner(), &models::FlowRunner::finished);
  QSignalSpy refreshed(window.datasetListModel(), &models::DatasetListModel::refreshed);
  QVERIFY(window.runFlow(m_photosFlow));
  // While it runs: progress and Cancel in the status bar, and no second run.
  QVERIFY(status->isVisible());
  QVERIFY(status->cancelButton()->isEnabled());
  QVERIFY(!window.runFlow(m_photosFlow));
  QVERIFY(finished.wait(120000));
  QVERIFY(!status->isVisible());
  QVERIFY(refreshed.wait(10000));

  // The run's output is in the dock, picked, and shown.
  QCOMPARE(window.datasetListModel()->rowCount(), 1);
  QCOMPARE(window.datasetListPanel()->currentDataset(), QString("product_photos"));
  QTRY_COMPARE(window.datasetRowsModel()->rowCount(), testing::kPhotoFiles);
  QCOMPARE(window.datasetViewer()->dataset(), QString("product_photos"));
  QVERIFY(rowsTable(window)->isVisible());
  const QString log = window.findChild<QPlainTextEdit*>("runLog")->toPlainText();
  QVERIFY2(log.contains("product_photos@1"), qPrintable(log));
}

void TestMainWindow::selectingDatasetFillsViewer() {
  MainWindow window;
  window.show();
  QVERIFY(QTest::qWaitForWindowExposed(&window));
  QVERIFY(openAndWait(window, m_catalog));
  QVERIFY(runThroughWindow(window, m_docsFlow));
  QVERIFY(runThroughWindow(window, m_largeFlow));
  QCOMPARE(window.datasetListModel()->rowCount(), 3);
  QCOMPARE(window.datasetListPanel()->currentDataset(), QString("large_photos"));
  QTRY_COMPARE(window.datasetRowsModel()->rowCount(), 3);  // 1920, 1280 and 2048 wide

  // Click docs_archive in the dock, as a person would.
  QTableView* list = datasetTable(window);
  QModelIndex docs;
  for (int r = 0; r < list->model()->rowCount(); ++r)
    if (list->model()->index(r, 0).data().toString() == "docs_archive") docs = list->model()->index(r, 0);
  QVERIFY(docs.isValid());
  QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, list->visualRect(docs).center());
  QCOMPARE(window.datasetListPanel()->currentDataset(), QString("docs_archive"));
  QTRY_COMPARE(window.datasetRowsModel()->rowCount(), 500);  // the first page
  QCOMPARE(window.datasetRowsModel()->totalRows(), 640);
  QCOMPARE(window.findChild<QLabel*>("datasetTitle")->text(), QString("docs_archive"));

  // Scrolling to the end reads the rest.
  rowsTable(window)->scrollToBottom();
  QTRY_COMPARE(window.datasetRowsModel()->rowCount(), 640);

  // The filter narrows the list.
  window.datasetListPanel()->filterEdit()->setText("PHOTOS");
  QCOMPARE(list->model()->rowCount(), 2);
  window.datasetListPanel()->filterEdit()->clear();
}

void TestMainWindow::versionComboShowsOlderVersion() {
  MainWindow window;
  window.show();
  QVERIFY(openAndWait(window, m_catalog));
  // A new photo makes product_photos@2.
  QVERIFY(testing::writeImage(m_photos + "/kayak_lake.jpg", 1600, 900));
  QVERIFY(runThroughWindow(window, m_photosFlow));
  QCOMPARE(window.datasetListPanel()->currentDataset(), QString("product_photos"));
  QTRY_COMPARE(window.datasetRowsModel()->rowCount(), testing::kPhotoFiles + 1);

  QComboBox* combo = window.datasetViewer()->versionCombo();
  QTRY_COMPARE(combo->count(), 2);
  QCOMPARE(combo->currentData().toLongLong(), 2);  // newest first, and shown
  QVERIFY(combo->itemText(1).startsWith("v1"));
  combo->setCurrentIndex(1);
  emit combo->activated(1);
  QTRY_COMPARE(window.datasetRowsModel()->version().version, 1);
  QTRY_COMPARE(window.datasetRowsModel()->rowCount(), testing::kPhotoFiles);
}

void TestMainWindow::failedRunIsReported() {
  MainWindow window;
  window.show();
  QVERIFY(openAndWait(window, m_catalog));
  const QString bad = m_dir.filePath("bad.loomflow");
  QVERIFY(testing::writeFile(bad, R"({"format": "loom.flow/9", "name": "x", "nodes": [], "edges": []})"));
  QSignalSpy failed(window.flowRunner(), &models::FlowRunner::failed);
  QVERIFY(window.runFlow(bad));
  QVERIFY(failed.wait(30000));
  QCOMPARE(failed.first().at(1).toString(), QString("invalid_flow"));
  // A window-modal message box says so; the window stays usable.
  QTRY_VERIFY(window.findChild<QMessageBox*>() != nullptr);
  auto* box = window.findChild<QMessageBox*>();
  QVERIFY(box->text().contains("bad.loomflow"));
  box->close();
  QVERIFY(window.findChild<QPlainTextEdit*>("runLog")->toPlainText().contains("loom.flow/9"));
}

void TestMainWindow::menusHaveShortcuts() {
  MainWindow window;
  QMap<QString, QString> shortcuts;
  for (QAction* menu : window.menuBar()->actions())
    for (QAction* a : menu->menu()->actions())
      if (!a->isSeparator()) shortcuts[a->text().remove('&')] = a->shortcut().toString();
  QCOMPARE(shortcuts.value("Open Catalog…"), QString("Ctrl+O"));
  QCOMPARE(shortcuts.value("Run Flow…"), QString("Ctrl+R"));
  QCOMPARE(shortcuts.value("Quit"), QString("Ctrl+Q"));
  QVERIFY(shortcuts.contains("Datasets"));  // View: dock toggles
  QVERIFY(shortcuts.contains("Run Log"));
  QVERIFY(shortcuts.contains("About Loom"));
}

void TestMainWindow::pluralsReadAsEnglish() {
  QVERIFY(QFile::exists(":/i18n/loom_en.qm"));
  auto rows = [](int n) { return QCoreApplication::translate("loom::widgets::DatasetViewer", "%Ln row(s)", nullptr, n); };
  QCOMPARE(rows(1), QString("1 row"));
  QCOMPARE(rows(28), QString("28 rows"));
}

void TestMainWindow::aboutNamesVersions() {
  MainWindow window;
  const QString text = window.aboutText();
  QVERIFY(text.contains(LOOM_VERSION));
  QVERIFY(text.contains(qVersion()));
  QVERIFY(text.contains("SQLite 3."));
  QVERIFY(text.contains("libcurl"));
}

void TestMainWindow::screenshot() {
  // A catalog of its own, filled as a person would: three flows run from the window, the product
  // flow twice so that its dataset has two versions (the second run sees one more photo).
  QTemporaryDir work(QDir::tempPath() + "/loom-demo-XXXXXX");
  const QString shoot = work.filePath("spring_shoot");
  QVERIFY(makeProductShoot(shoot));
  const QString productsFlow =
      testing::writeListFlow(work.filePath("products.loomflow"), "products", shoot, "product_photos");
  const QString largeFlow = testing::writeListFlow(work.filePath("large.loomflow"), "large-products", shoot,
                                                   "large_product_photos", "width >= 1600");
  QVERIFY(!productsFlow.isEmpty() && !largeFlow.isEmpty());

  MainWindow window;
  window.show();
  QVERIFY(QTest::qWaitForWindowExposed(&window));
  QCOMPARE(window.size(), QSize(1280, 800));
  QVERIFY(openAndWait(window, work.filePath("catalog.db")));
  QVERIFY(runThroughWindow(window, m_docsFlow));
  QVERIFY(runThroughWindow(window, largeFlow));
  const QString extra = shoot + "/sku_1120_side.jpg", aside = work.filePath("sku_1120_side.jpg");
  QVERIFY(testing::writeImage(aside, 1600, 1200));
  QVERIFY(runThroughWindow(window, productsFlow));
  QVERIFY(QFile::rename(aside, extra));
  QVERIFY(runThroughWindow(window, productsFlow));

  QCOMPARE(window.datasetListPanel()->currentDataset(), QString("product_photos"));
  // 24 + 1 new photos, a note, 2 broken (a cut header and an empty upload: both failed rows)
  QTRY_COMPARE(window.datasetRowsModel()->rowCount(), 28);
  QTRY_COMPARE(window.datasetViewer()->versionCombo()->count(), 2);
  QTRY_VERIFY(!window.datasetRowsModel()->isLoading());
  const QString summary = window.findChild<QLabel*>("datasetSummary")->text();
  QVERIFY2(summary.startsWith("28 rows · 2 failed · 28 columns"), qPrintable(summary));
  QTest::qWait(100);  // let the last layout pass run

  QString dir = qEnvironmentVariable("LOOM_SCREENSHOT_DIR");
  if (dir.isEmpty()) dir = QStringLiteral(LOOM_BINARY_DIR);
  QVERIFY(QDir().mkpath(dir));
  const QString path = QDir(dir).filePath("main_window.png");
  QVERIFY(window.grab().save(path));
  qInfo("screenshot: %s", qPrintable(QDir::toNativeSeparators(path)));
}

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
