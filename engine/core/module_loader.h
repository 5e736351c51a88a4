#pragma once
// Loom's run-time modules (libloom_media_codecs.so, libloom_local_models.so): shared libraries that
// carry heavy dependencies (FFmpeg, poppler, OpenCV, Tesseract) and are loaded the first time they are
// needed, so a process that never uses them never pays for loading them. Each exports one C function
// returning a table of its entry points.

#include <functional>
#include <string>

#include "core/result.h"

namespace loom::core {

struct ModuleSpec {
  std::string title;        // "media codecs", for messages
  std::string fileName;     // "libloom_media_codecs.so"
  std::string envVar;       // "LOOM_MEDIA_CODECS": a path that wins over the others
  std::string buildPath;    // the build tree's copy ("" when unknown)
  std::string entrySymbol;  // "loom_media_codecs_v1"
};

// Looks for the module at $envVar, <executable>/../lib/loom/fileName, then buildPath. `accept` gets the
// address of each candidate's entry point, calls it through its real type, keeps the table and returns
// false when the table comes from another Loom version (its ABI number differs), so the next candidate
// is tried. The accepted module stays loaded for the life of the process. The error says where Loom
// looked and how to point it at the file. Call once per process (e.g. under std::call_once).
Result<void> loadModule(const ModuleSpec& spec, const std::function<bool(void* entry)>& accept);

}  // namespace loom::core
