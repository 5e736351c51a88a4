// The media codecs module's one exported symbol: the table of its entry points (media/codecs.h).

extern "C" {
#include <libavutil/mem.h>
}

#include "media/codecs.h"
#include "media/native/native.h"

namespace {

// No single FFmpeg allocation may pass this. Demuxers size tables from counts in the file's header
// (a 3 KB MP4 whose sample table claims 2^28 entries asked for 1 GiB); legitimate needs, up to 8K
// video frames and sample tables of day-long recordings, stay far below it. An allocation over it
// fails, and the probe or thumbnail reports an error for that file.
constexpr size_t kMaxFfmpegAllocation = 256u * 1024 * 1024;

}  // namespace

extern "C" __attribute__((visibility("default"))) const loom::media::CodecsApi* loom_media_codecs_v1() {
  static const loom::media::CodecsApi api = [] {
    av_max_alloc(kMaxFfmpegAllocation);
    return loom::media::CodecsApi{loom::media::kCodecsAbi, &loom::media::native::probeAudioVideo,
                                  &loom::media::native::probePdf, &loom::media::native::makeThumbnail,
                                  loom::media::native::imageOps(),     loom::media::native::avOps(),
                                  loom::media::native::docOps()};
  }();
  return &api;
}
