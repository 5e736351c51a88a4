#pragma once
// The local models module's functions. Compiled only into libloom_local_models.so; the engine reaches
// them through inference/local_models.h, never directly.

#include <memory>
#include <string>

#include "core/result.h"
#include "inference/local_models.h"

namespace loom::inference::local {

core::Result<std::shared_ptr<const LocalModel>> loadOnnx(const OnnxConfig& config);
core::Result<std::shared_ptr<const LocalModel>> loadCascade(const CascadeConfig& config);
core::Result<std::shared_ptr<const LocalModel>> loadOcr(const OcrConfig& config);
const char* tesseractVersion();
std::string tesseractDataDir();

// Once per process: OpenCV's log output off (per-row problems are row errors) and its own worker
// threads off, because rows are already spread over one worker per core and a call's CPU time is
// then all on the calling thread, where the ledger measures it.
void setUpLibraries();

}  // namespace loom::inference::local
