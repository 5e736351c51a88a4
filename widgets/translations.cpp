#include "translations.h"

#include <QCoreApplication>
#include <QLibraryInfo>
#include <QLocale>
#include <QTranslator>

namespace loom::widgets {

void installTranslators(QCoreApplication& app) {
  auto* qt = new QTranslator(&app);
  if (qt->load(QLocale(), QStringLiteral("qtbase"), QStringLiteral("_"),
               QLibraryInfo::path(QLibraryInfo::TranslationsPath)))
    QCoreApplication::installTranslator(qt);
  else
    delete qt;

  // Compiled into loom_widgets from translations/*.ts (see widgets/CMakeLists.txt).
  auto* loom = new QTranslator(&app);
  if (loom->load(QLocale(), QStringLiteral("loom"), QStringLiteral("_"), QStringLiteral(":/i18n")) ||
      loom->load(QStringLiteral(":/i18n/loom_en.qm")))
    QCoreApplication::installTranslator(loom);
  else
    delete loom;
}

}  // namespace loom::widgets
