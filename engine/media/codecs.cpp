#include "media/codecs.h"

#include <mutex>
#include <optional>

#include "core/module_loader.h"
#include "media/probe_detail.h"

#ifndef LOOM_MEDIA_CODECS_BUILD_PATH
#define LOOM_MEDIA_CODECS_BUILD_PATH ""
#endif

namespace loom::media {

core::Result<const CodecsApi*> codecs() {
  static std::once_flag once;
  static std::optional<core::Result<const CodecsApi*>> loaded;
  std::call_once(once, [] {
    const CodecsApi* api = nullptr;
    auto r = core::loadModule({"media codecs", "libloom_media_codecs.so", "LOOM_MEDIA_CODECS", LOOM_MEDIA_CODECS_BUILD_PATH, "loom_media_codecs_v1"}, [&api](void* entry) {
      api = reinterpret_cast<const CodecsApi* (*)()>(entry)();
      return api && api->abi == kCodecsAbi;
    });
    if (r.ok())
      loaded.emplace(api);
    else
      loaded.emplace(r.error());
  });
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
