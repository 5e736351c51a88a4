// Thumbnail kinds and the entry point. The decoding itself (OpenCV, libavcodec, poppler) lives in the
// media codecs module, loaded on first use (media/codecs.h).

#include "media/thumbnail.h"

#include "media/codecs.h"

namespace loom::media {

using core::ErrorKind;
using core::makeError;

const char* thumbnailKindName(ThumbnailKind kind) {
  switch (kind) {
    case ThumbnailKind::Auto: return "auto";
    case ThumbnailKind::Image: return "image";
    case ThumbnailKind::Frame: return "frame";
    case ThumbnailKind::Strip: return "strip";
    case ThumbnailKind::Waveform: return "waveform";
    case ThumbnailKind::Page: return "page";
    case ThumbnailKind::Text: return "text";
  }
  return "auto";
}

std::optional<ThumbnailKind> thumbnailKindFromName(std::string_view name) {
  for (auto k : {ThumbnailKind::Auto, ThumbnailKind::Image, ThumbnailKind::Frame, ThumbnailKind::Strip,
                 ThumbnailKind::Waveform, ThumbnailKind::Page, ThumbnailKind::Text})
    if (name == thumbnailKindName(k)) return k;
  return std::nullopt;
}

core::Result<ThumbnailKind> thumbnailKindForMime(std::string_view mime) {
  auto starts = [&](std::string_view p) { return mime.substr(0, p.size()) == p; };
  if (mime == "image/svg+xml") return ThumbnailKind::Text;
  if (starts("image/")) return ThumbnailKind::Image;
  if (starts("video/")) return ThumbnailKind::Frame;
  if (starts("audio/")) return ThumbnailKind::Waveform;
  if (mime == "application/pdf") return ThumbnailKind::Page;
  if (starts("text/") || mime == "application/json" || mime == "application/xml" || mime == "application/x-ndjson" ||
      mime == "application/csv" || mime == "application/javascript")
    return ThumbnailKind::Text;
  return makeError(ErrorKind::Unsupported,
                   "no thumbnail for " + std::string(mime.empty() ? "an unknown type" : mime) +
                       " (Loom previews images, video, audio, PDF and text)");
}

core::Result<Thumbnail> makeThumbnail(ObjectReader& reader, std::string_view mime, std::string_view name,
                                      const ThumbnailRequest& request, const MediaLimits& limits) {
  auto api = codecs();
  if (!api.ok()) return makeError(api.error().kind, reader.uri() + " cannot be previewed: " + api.error().message);
  return (*api)->makeThumbnail(reader, mime, name, request, limits);
}

}  // namespace loom::media
