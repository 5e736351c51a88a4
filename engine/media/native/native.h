#pragma once
// The media codecs module's functions (FFmpeg, poppler, OpenCV). Compiled only into
// libloom_media_codecs.so; the engine reaches them through media/codecs.h, never directly, so that a
// process that probes no audio/video/PDF and makes no thumbnail never loads those libraries.

#include <string_view>

#include "core/result.h"
#include "media/object_reader.h"
#include "media/probe.h"
#include "media/thumbnail.h"

namespace loom::media::native {

void probeAudioVideo(ObjectReader& reader, std::string_view name, const MediaLimits& limits, ProbeResult& out);
void probePdf(ObjectReader& reader, const MediaLimits& limits, ProbeResult& out);
core::Result<Thumbnail> makeThumbnail(ObjectReader& reader, std::string_view mime, std::string_view name,
                                      const ThumbnailRequest& request, const MediaLimits& limits);

}  // namespace loom::media::native
