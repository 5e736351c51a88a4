#pragma once
// Fixtures shared by the models and widgets tests: a folder of generated assets (real images of
// known sizes, a text file, a broken JPEG), .loomflow files over it, and a helper that runs a flow
// through FlowRunner, the GUI's engine run path, and waits for it.

#include <QString>
#include <QStringList>

#include "flow_runner.h"

namespace loom::testing {

// Writes `bytes` to `path`, creating parent folders. False on failure.
bool writeFile(const QString& path, const QByteArray& bytes);
// Writes a w×h gradient image; the format follows the suffix (.jpg or .png).
bool writeImage(const QString& path, int width, int height);

// The photo folder: 6 images (cat_portrait.jpg is 320×240), notes.txt, and broken_upload.jpg whose
// header is cut short (its row gets an error). 8 files.
constexpr int kPhotoFiles = 8;
bool makePhotoAssets(const QString& dir);
// `count` small text files named file_0000.txt …
bool makeBulkAssets(const QString& dir, int count);

// storage.list(dir) → media.probe → [table.filter(where)] → dataset.save(dataset). Returns the path.
QString writeListFlow(const QString& flowPath, const QString& flowName, const QString& assetsDir,
                      const QString& dataset, const QString& where = {});

struct RunOutcome {
  bool finished = false;  // finished() came; else failed() or nothing
  models::RunSummary summary;
  QString error, kind;
};
// Runs `flowPath` on `catalogPath` with a FlowRunner and waits up to `timeoutMs`.
RunOutcome runFlow(const QString& flowPath, const QString& catalogPath, int timeoutMs = 120000);

}  // namespace loom::testing
