// The local models module's one exported symbol: the table of its entry points
// (inference/local_models.h), and the process-wide library settings it makes once.

#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include "inference/local/local.h"
#include "inference/local_models.h"

namespace loom::inference::local {

void setUpLibraries() {
  static std::once_flag once;
  std::call_once(once, [] {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    cv::setNumThreads(0);  // 0: OpenCV runs its loops on the calling thread
  });
}

}  // namespace loom::inference::local

extern "C" __attribute__((visibility("default"))) const loom::inference::LocalModelsApi* loom_local_models_v1() {
  namespace local = loom::inference::local;
  static const loom::inference::LocalModelsApi api{loom::inference::kLocalModelsAbi, &local::loadOnnx,
                                                   &local::loadCascade,   &local::loadOcr,
                                                   &local::tesseractVersion, &local::tesseractDataDir};
  return &api;
}
