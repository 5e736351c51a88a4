#pragma once
// Decoding one image object into pixels under MediaLimits, shared by thumbnails (thumbnail_native.cpp)
// and the image transform library (image_ops_native.cpp): the size is read from the header and checked
// against the pixel limit before anything is decoded, truncated JPEGs are refused, JPEGs are scaled
// inside libjpeg's inverse DCT when a smaller image will do, and EXIF orientation is applied.
// Thread-safe: call from many threads, one ObjectReader each.

#include <functional>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>

#include "core/result.h"
#include "media/object_reader.h"

namespace loom::media::native {

struct ImageDecodeOptions {
  // JPEG only: decode at 1/2, 1/4 or 1/8 scale while the longest side stays >= this; 0: full size.
  int minLongSide = 0;
  // When set, gives minLongSide from the header's width and height (orientation applied).
  std::function<int(int64_t width, int64_t height)> minLongSideFor;
  bool gray = false;         // one 8-bit channel (luma); otherwise as stored: BGR, grey, or BGRA
  // PNG/WebP/TIFF transparency kept (BGRA; grey+alpha widened to BGRA; an alpha channel that is opaque
  // everywhere is dropped); false: BGR.
  bool keepAlpha = true;
  bool orientation = true;   // apply the EXIF orientation (JPEG)
};

struct DecodedImage {
  cv::Mat pixels;          // 8 bits per channel
  int64_t headerWidth = 0;   // the full size the header gives (orientation applied), before any scaling
  int64_t headerHeight = 0;
};

// Decodes the image behind `reader`, of which `head` holds the first bytes and `size` is the length.
// Errors name the object and say why (over the pixel or byte limit, truncated, not decodable).
core::Result<DecodedImage> decodeImage(ObjectReader& reader, std::string head, int64_t size, std::string_view mime,
                                       const ImageDecodeOptions& options, const MediaLimits& limits);

// Reads the object from head.size() to its end (the reader enforces the byte budget and the deadline);
// refuses objects over limits.maxPreviewBytes.
core::Result<std::string> readRest(ObjectReader& reader, std::string head, int64_t size, const MediaLimits& limits);

// 16-bit and floating-point images scaled to 8 bits per channel.
cv::Mat to8Bit(const cv::Mat& m);

}  // namespace loom::media::native
