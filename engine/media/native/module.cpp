// The media codecs module's one exported symbol: the table of its entry points (media/codecs.h).

#include "media/codecs.h"
#include "media/native/native.h"

extern "C" __attribute__((visibility("default"))) const loom::media::CodecsApi* loom_media_codecs_v1() {
  static const loom::media::CodecsApi api{loom::media::kCodecsAbi, &loom::media::native::probeAudioVideo,
                                          &loom::media::native::probePdf, &loom::media::native::makeThumbnail};
  return &api;
}
