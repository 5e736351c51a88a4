#pragma once
// Thumbnails and previews for every modality, made from an ObjectReader (ranged reads with a byte
// budget and a deadline) under hard limits, so a hostile file costs bounded work and memory:
//   image     scaled while decoding (libjpeg DCT scaling through OpenCV's reduced modes), then
//             INTER_AREA; EXIF orientation applied; alpha kept (PNG out)
//   frame     a representative video frame: the first of 10%/30%/50%/70% of the duration that is not
//             near-black or flat
//   strip     N evenly spaced video frames side by side, each with max side = maxSide (scrubbing)
//   waveform  min/max per pixel column over the decoded audio, drawn maxSide x maxSide/2 (PNG)
//   page      the first page of a PDF (poppler), max side = maxSide
//   text      the first lines of a text file, drawn maxSide x maxSide (PNG)
// Output is JPEG, except PNG where alpha or line art matters (images with transparency, waveform,
// text). Thread-safe: call from many threads, one ObjectReader each; each call holds at most one
// decoded full-size image (and for video one decoded frame) at a time.

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "media/object_reader.h"

namespace loom::media {

enum class ThumbnailKind { Auto, Image, Frame, Strip, Waveform, Page, Text };

const char* thumbnailKindName(ThumbnailKind kind);  // "auto", "image", "frame", …
std::optional<ThumbnailKind> thumbnailKindFromName(std::string_view name);
// The kind `auto` picks for a MIME type; an Unsupported error naming the type when there is none.
core::Result<ThumbnailKind> thumbnailKindForMime(std::string_view mime);

struct ThumbnailRequest {
  ThumbnailKind kind = ThumbnailKind::Auto;
  int maxSide = 256;  // longest side of the result (of each frame, for strips), pixels
  int frames = 8;     // strip: frames side by side
};

struct Thumbnail {
  std::string bytes;  // encoded JPEG or PNG
  std::string mime;   // "image/jpeg" or "image/png"
  int width = 0;
  int height = 0;
  ThumbnailKind kind = ThumbnailKind::Image;  // what was made (never Auto)
};

// Frames whose mean luma (0..255) is below this, or whose luma standard deviation is below
// kFlatFrameStddev, are not chosen as a video's representative frame while another one qualifies.
constexpr double kBlackFrameLuma = 24.0;
constexpr double kFlatFrameStddev = 6.0;

// Makes a thumbnail of the object behind `reader`. `mime` may be empty (sniffed from the first
// bytes); `name` (file name) helps sniffing and demuxer choice. Errors name the object and the reason
// (a limit it passed, truncated, not decodable, unsupported type).
core::Result<Thumbnail> makeThumbnail(ObjectReader& reader, std::string_view mime, std::string_view name,
                                      const ThumbnailRequest& request, const MediaLimits& limits);

// Bounds for request fields, checked by makeThumbnail (InvalidInput outside them).
constexpr int kMinThumbnailSide = 16;
constexpr int kMaxThumbnailSide = 4096;
constexpr int kMaxStripFrames = 64;

}  // namespace loom::media
