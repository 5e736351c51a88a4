#pragma once
// Image operations of the media codecs module (OpenCV): transforms, perceptual hashes, quality scores.
// Reached through media::codecs()->image; see media/codecs.h. Every entry point reads one object
// through an ObjectReader under MediaLimits (pixel limit checked from the header before decoding,
// byte budget, deadline) and returns an error naming the object and the reason for a broken, hostile
// or unsupported file. Thread-safe: call from many threads, one ObjectReader each.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "media/object_reader.h"

namespace loom::media {

// What image.transform does to one image, in this order: decode (EXIF orientation applied unless
// `exifOrientation` is false), rotate, crop to the box, centre-crop to an aspect, resize, colour,
// normalise, encode.
struct ImageTransformSpec {
  bool exifOrientation = true;
  int rotate = 0;  // clockwise degrees: 0, 90, 180 or 270
  // Crop box in pixels of the (rotated) image; cropW == 0: no box. A box reaching past the image is
  // clipped to it; one wholly outside it is an error.
  int cropX = 0, cropY = 0, cropW = 0, cropH = 0;
  double cropAspect = 0;  // width / height of a centred crop; 0: none

  enum class Resize { None, MaxSide, Exact, Scale };
  enum class Fit { Contain, Cover, Stretch, Pad };  // how Exact treats a different aspect
  Resize resize = Resize::None;
  int maxSide = 0;          // MaxSide: longest side; never enlarges
  int width = 0, height = 0;  // Exact: target size
  Fit fit = Fit::Contain;
  double scale = 1.0;       // Scale: factor on both sides

  enum class Colour { Keep, Rgb, Gray };
  Colour colour = Colour::Keep;
  enum class Normalize { None, AutoContrast, Equalize };
  Normalize normalize = Normalize::None;

  enum class Format { Auto, Jpeg, Png, Webp };  // Auto: PNG where transparency is left, else JPEG
  Format format = Format::Auto;
  int quality = 90;  // JPEG and WebP, 1..100
};

struct EncodedImage {
  std::string bytes;
  std::string mime;  // "image/jpeg", "image/png", "image/webp"
  int width = 0;
  int height = 0;
};

struct ExposureStats {
  double meanLuma = 0;        // 0..255
  double darkFraction = 0;    // share of pixels with luma <= darkLevel
  double brightFraction = 0;  // share of pixels with luma >= brightLevel
};

// Side of the downscaled grey image that blur and exposure scores are computed on, so the scores of
// the same picture at different sizes are comparable. Smaller images are scored as they are.
constexpr int kQualityLongSide = 512;

struct ImageOpsApi {
  // `mime` may be empty (sniffed from the first bytes); `name` helps sniffing.
  core::Result<EncodedImage> (*transform)(ObjectReader& reader, std::string_view mime, std::string_view name,
                                          const ImageTransformSpec& spec, const MediaLimits& limits);
  // DCT perceptual hash: grey, 32 x 32 (area resampling), 2-D DCT, the 8 x 8 lowest frequencies
  // without the DC row and column (coefficients [1..8] x [1..8]), each bit = coefficient > median of
  // the 64. Bit 63 is the coefficient (1,1), row-major.
  core::Result<uint64_t> (*phash)(ObjectReader& reader, std::string_view mime, std::string_view name,
                                  const MediaLimits& limits);
  // Variance of the Laplacian of the grey image with long side kQualityLongSide (higher = sharper).
  core::Result<double> (*blurScore)(ObjectReader& reader, std::string_view mime, std::string_view name,
                                    const MediaLimits& limits);
  // Luma statistics of the grey image with long side kQualityLongSide.
  core::Result<ExposureStats> (*exposure)(ObjectReader& reader, std::string_view mime, std::string_view name,
                                          int darkLevel, int brightLevel, const MediaLimits& limits);
};

}  // namespace loom::media
