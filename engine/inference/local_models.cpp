#include "inference/local_models.h"

#include <mutex>
#include <optional>

#include "core/module_loader.h"
#ifndef LOOM_LOCAL_MODELS_BUILD_PATH
#define LOOM_LOCAL_MODELS_BUILD_PATH ""
#endif

namespace loom::inference {

core::Result<const LocalModelsApi*> localModels() {
  static std::once_flag once;
  static std::optional<core::Result<const LocalModelsApi*>> loaded;
  std::call_once(once, [] {
    const LocalModelsApi* api = nullptr;
    auto r = core::loadModule({"local models", "libloom_local_models.so", "LOOM_LOCAL_MODELS", LOOM_LOCAL_MODELS_BUILD_PATH, "loom_local_models_v1"}, [&api](void* entry) {
      api = reinterpret_cast<const LocalModelsApi* (*)()>(entry)();
      return api && api->abi == kLocalModelsAbi;
    });
    if (r.ok())
      loaded.emplace(api);
    else
      loaded.emplace(r.error());
  });
  return *loaded;
}

}  // namespace loom::inference
