#include "core/module_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

namespace loom::core {

namespace {

std::vector<std::string> candidates(const ModuleSpec& spec) {
  std::vector<std::string> out;
  if (const char* env = std::getenv(spec.envVar.c_str()); env && *env) out.emplace_back(env);
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) out.push_back((exe.parent_path() / ".." / "lib" / "loom" / spec.fileName).lexically_normal().string());
  if (!spec.buildPath.empty()) out.push_back(spec.buildPath);
  return out;
}

}  // namespace

Result<void> loadModule(const ModuleSpec& spec, const std::function<bool(void* entry)>& accept) {
  std::string tried;
  auto note = [&](const std::string& path, const std::string& why) {
    tried += (tried.empty() ? "" : ", ") + path + " (" + why + ")";
  };
  for (const auto& path : candidates(spec)) {
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
    void* entry = dlsym(handle, spec.entrySymbol.c_str());
    if (!entry || !accept(entry)) {
      note(path, "from another Loom version");
      dlclose(handle);
      continue;
    }
    return {};  // kept loaded for the life of the process
  }
  return makeError(ErrorKind::Internal, "Loom's " + spec.title + " module (" + spec.fileName +
                                            ") could not be loaded; tried " + tried +
                                            ". Rebuild or reinstall Loom, or set " + spec.envVar + " to the file");
}

}  // namespace loom::core
