#include "inference/local_models.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#ifndef LOOM_LOCAL_MODELS_BUILD_PATH
#define LOOM_LOCAL_MODELS_BUILD_PATH ""
#endif

namespace loom::inference {

using core::ErrorKind;
using core::makeError;

namespace {

constexpr const char* kModuleName = "libloom_local_models.so";

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("LOOM_LOCAL_MODELS"); env && *env) out.emplace_back(env);
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) out.push_back((exe.parent_path() / ".." / "lib" / "loom" / kModuleName).lexically_normal().string());
  if (*LOOM_LOCAL_MODELS_BUILD_PATH) out.emplace_back(LOOM_LOCAL_MODELS_BUILD_PATH);
  return out;
}

core::Result<const LocalModelsApi*> load() {
  std::string tried;
  auto note = [&](const std::string& path, const std::string& why) {
    tried += (tried.empty() ? "" : ", ") + path + " (" + why + ")";
  };
  for (const auto& path : candidates()) {
    if (!std::filesystem::exists(path)) {
      note(path, "missing");
      continue;
    }
    // RTLD_LOCAL: the module carries its own copy of the engine; nothing of it may replace ours.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* why = dlerror();
      note(path, why ? why : "cannot load");
      continue;
    }
    using Entry = const LocalModelsApi* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, "loom_local_models_v1"));
    const LocalModelsApi* api = entry ? entry() : nullptr;
    if (!api || api->abi != kLocalModelsAbi) {
      note(path, "from another Loom version");
      dlclose(handle);
      continue;
    }
    return api;  // kept loaded for the life of the process
  }
  return makeError(ErrorKind::Internal, std::string("Loom's local models module (") + kModuleName +
                                            ") could not be loaded; tried " + tried +
                                            ". Rebuild or reinstall Loom, or set LOOM_LOCAL_MODELS to the file");
}

}  // namespace

core::Result<const LocalModelsApi*> localModels() {
  static std::once_flag once;
  static std::optional<core::Result<const LocalModelsApi*>> loaded;
  std::call_once(once, [] { loaded.emplace(load()); });
  return *loaded;
}

}  // namespace loom::inference
