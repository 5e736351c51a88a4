#pragma once
// Translations for the desktop app. Call once, from the GUI thread, after the application object
// exists and before windows are made.

class QCoreApplication;

namespace loom::widgets {

// Installs Qt's own translations and Loom's for the user's locale. English is Loom's source
// language; its catalogue (loom_en) only supplies the plural forms ("1 row", "2 rows") and is the
// fallback when there is no catalogue for the user's language. The translators are owned by `app`.
void installTranslators(QCoreApplication& app);

}  // namespace loom::widgets
