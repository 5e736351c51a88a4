#pragma once
// The media codecs module's functions (FFmpeg, poppler, OpenCV). Compiled only into
// libloom_media_codecs.so; the engine reaches them through media/codecs.h, never directly, so that a
// process that probes no audio/video/PDF and makes no thumbnail never loads those libraries.

#include <string_view>

#include "core/result.h"
#include "media/object_reader.h"
#include "media/probe.h"
#include "media/av_ops.h"
#include "media/doc_ops.h"
#include "media/image_ops.h"
#include "media/thumbnail.h"

namespace loom::media::native {

void probeAudioVideo(ObjectReader& reader, std::string_view name, const MediaLimits& limits, ProbeResult& out);
void probePdf(ObjectReader& reader, const MediaLimits& limits, ProbeResult& out);
core::Result<Thumbnail> makeThumbnail(ObjectReader& reader, std::string_view mime, std::string_view name,
                                      const ThumbnailRequest& request, const MediaLimits& limits);

// The transform library's tables (defined in image_ops_native.cpp, av_ops_native.cpp, doc_ops_native.cpp).
const ImageOpsApi* imageOps();
const AvOpsApi* avOps();
const DocOpsApi* docOps();

}  // namespace loom::media::native
