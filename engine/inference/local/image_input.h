#pragma once
// Reading an image for a local model: through the ObjectReader (ranged storage reads, byte budget,
// deadline) and under media::MediaLimits, like media.thumbnail's image path: the header's pixel count
// is checked before anything is decoded (decompression bombs), a JPEG cut short is an error rather
// than a half-grey image, EXIF orientation is applied. Thread-safe (one reader per call).

#include <opencv2/core.hpp>

#include "core/result.h"
#include "media/object_reader.h"

namespace loom::inference::local {

struct DecodeRequest {
  // A JPEG may be decoded at 1/2, 1/4 or 1/8 size (libjpeg scales inside the inverse DCT, so the
  // full-size image never exists) while its sides stay at least these. All zero: no reduction.
  int minWidth = 0, minHeight = 0, minLongest = 0;
  bool reduce = false;
};

struct DecodedImage {
  cv::Mat bgr;                // 8-bit BGR, EXIF orientation applied, possibly reduced
  int width = 0, height = 0;  // the image's full size as displayed
};

core::Result<DecodedImage> decodeImage(media::ObjectReader& reader, const media::MediaLimits& limits,
                                       const DecodeRequest& request);

// "uri: what" as a row error.
core::Error rowError(core::ErrorKind kind, const media::ObjectReader& reader, const std::string& what);

// An OpenCV exception's description on one line, without the source path OpenCV puts first.
std::string cvMessage(const cv::Exception& e);

}  // namespace loom::inference::local
