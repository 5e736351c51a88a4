#include "media/codecs.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "media/probe_detail.h"

#ifndef LOOM_MEDIA_CODECS_BUILD_PATH
#define LOOM_MEDIA_CODECS_BUILD_PATH ""
#endif

namespace loom::media {

using core::ErrorKind;
using core::makeError;

namespace {

constexpr const char* kModuleName = "libloom_media_codecs.so";

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("LOOM_MEDIA_CODECS"); env && *env) out.emplace_back(env);
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) out.push_back((exe.parent_path() / ".." / "lib" / "loom" / kModuleName).lexically_normal().string());
  if (*LOOM_MEDIA_CODECS_BUILD_PATH) out.emplace_back(LOOM_MEDIA_CODECS_BUILD_PATH);
  return out;
}

core::Result<const CodecsApi*> load() {
  std::string tried;
  for (const auto& path : candidates()) {
    if (!std::filesystem::exists(path)) {
      tried += (tried.empty() ? "" : ", ") + path + " (missing)";
      continue;
    }
    // RTLD_LOCAL: the module carries its own copy of the engine; nothing of it may replace ours.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* why = dlerror();
      tried += (tried.empty() ? "" : ", ") + path + " (" + (why ? why : "cannot load") + ")";
      continue;
    }
    using Entry = const CodecsApi* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, "loom_media_codecs_v1"));
    const CodecsApi* api = entry ? entry() : nullptr;
    if (!api || api->abi != kCodecsAbi) {
      tried += (tried.empty() ? "" : ", ") + path + " (from another Loom version)";
      dlclose(handle);
      continue;
    }
    return api;  // kept loaded for the life of the process
  }
  return makeError(ErrorKind::Internal, std::string("Loom's media codecs module (") + kModuleName +
                                            ") could not be loaded; tried " + tried +
                                            ". Rebuild or reinstall Loom, or set LOOM_MEDIA_CODECS to the file");
}

}  // namespace

core::Result<const CodecsApi*> codecs() {
  static std::once_flag once;
  static std::optional<core::Result<const CodecsApi*>> loaded;
  std::call_once(once, [] { loaded.emplace(load()); });
  return *loaded;
}

namespace detail {

void probeAudioVideo(ObjectReader& reader, std::string_view name, const MediaLimits& limits, ProbeResult& out) {
  auto api = codecs();
  if (!api.ok()) {
    out.error = reader.uri() + " was not probed: " + api.error().message;
    return;
  }
  (*api)->probeAudioVideo(reader, name, limits, out);
}

void probePdf(ObjectReader& reader, const MediaLimits& limits, ProbeResult& out) {
  auto api = codecs();
  if (!api.ok()) {
    out.error = reader.uri() + " was not probed: " + api.error().message;
    return;
  }
  (*api)->probePdf(reader, limits, out);
}

}  // namespace detail

}  // namespace loom::media
