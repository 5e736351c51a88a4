// loom: the desktop app. Argument parsing and wiring only; the window lives in loom_widgets.
//
//   loom [--catalog PATH] [FLOW.loomflow]
//
// Opens the catalog (default: the same one loom-cli uses) and, when a flow is given, runs it.

#include <QApplication>
#include <QIcon>
#include <QCommandLineParser>
#include <QFileInfo>
#include <cstdio>

#include "catalog/catalog.h"
#include "catalog_service.h"
#include "main_window.h"
#include "translations.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("Loom"));
  QApplication::setApplicationName(QStringLiteral("Loom"));
  QApplication::setApplicationVersion(QStringLiteral(LOOM_VERSION));
  QApplication::setDesktopFileName(QStringLiteral("loom"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/loom.svg")));

  loom::widgets::installTranslators(app);

  QCommandLineParser parser;
  parser.setApplicationDescription(
      QApplication::translate("main", "Loom: look at assets, run flows, and browse versioned datasets."));
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption catalogOption(
      QStringLiteral("catalog"),
      QApplication::translate("main", "Catalog file (default: $LOOM_HOME/catalog.db or the XDG data folder)."),
      QApplication::translate("main", "PATH"));
  parser.addOption(catalogOption);
  parser.addPositionalArgument(QStringLiteral("flow"),
                               QApplication::translate("main", "A .loomflow file to run once the window is open."),
                               QStringLiteral("[FLOW.loomflow]"));
  parser.process(app);

  const QStringList positional = parser.positionalArguments();
  if (positional.size() > 1) {
    std::fprintf(stderr, "%s\n", qPrintable(QApplication::translate("main", "loom: give at most one flow file")));
    return 2;
  }
  const QString catalogPath = parser.isSet(catalogOption)
                                  ? parser.value(catalogOption)
                                  : QString::fromStdString(loom::catalog::Catalog::defaultPath());

  loom::widgets::MainWindow window;
  window.show();
  window.openCatalog(catalogPath);
  if (!positional.isEmpty()) {
    const QString flow = QFileInfo(positional.first()).absoluteFilePath();
    // Run once the catalog is open; a catalog that fails to open is reported by the window.
    QObject::connect(window.catalogService(), &loom::models::CatalogService::opened, &window,
                     [&window, flow] { window.runFlow(flow); }, Qt::SingleShotConnection);
  }
  return app.exec();
}
