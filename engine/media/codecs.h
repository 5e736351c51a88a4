#pragma once
// The media codecs module: audio/video (FFmpeg), PDF (poppler) and image decoding (OpenCV, whose
// Debian build pulls in GDAL, GDCM and HDF5) are built into libloom_media_codecs.so and loaded the
// first time a probe or thumbnail needs them. Linking them into every process cost ~170 ms of
// dynamic loading per loom-cli call (226 shared libraries), a third of indexing 100,000 files.
// Thread-safe: codecs() may be called from any thread; the module is loaded once per process.

#include <string_view>

#include "core/result.h"
#include "media/object_reader.h"
#include "media/probe.h"
#include "media/av_ops.h"
#include "media/doc_ops.h"
#include "media/image_ops.h"
#include "media/thumbnail.h"

namespace loom::media {

// Bumped when CodecsApi changes, so an engine never calls a module built from other sources.
constexpr int kCodecsAbi = 2;

struct CodecsApi {
  int abi;
  void (*probeAudioVideo)(ObjectReader& reader, std::string_view name, const MediaLimits& limits, ProbeResult& out);
  void (*probePdf)(ObjectReader& reader, const MediaLimits& limits, ProbeResult& out);
  core::Result<Thumbnail> (*makeThumbnail)(ObjectReader& reader, std::string_view mime, std::string_view name,
                                           const ThumbnailRequest& request, const MediaLimits& limits);
  // The transform library's operations, one table per family (media/image_ops.h, av_ops.h, doc_ops.h).
  const ImageOpsApi* image;
  const AvOpsApi* av;
  const DocOpsApi* doc;
};

// The loaded module, or an error saying where it was looked for and how to point Loom at it
// ($LOOM_MEDIA_CODECS). Looked for: $LOOM_MEDIA_CODECS, <executable>/../lib/loom/, the build tree.
core::Result<const CodecsApi*> codecs();

}  // namespace loom::media
